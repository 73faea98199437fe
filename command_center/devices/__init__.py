"""GB/T 28181 devices (body cams, platforms) bound to officers; wires ``streaming.gb28181`` to the app."""
