"""A real RTSP server for the pull-ingest tests: GStreamer's RTSP server with a live test picture.

Run by Debian's ``/usr/bin/python3`` (python3-gi, gir1.2-gst-rtsp-server-1.0), not the project's venv:
``/usr/bin/python3 tests/streaming/servers/rtsp_server.py --port P [--codec h264|vp8] [--fps 30]``.
It serves ``rtsp://127.0.0.1:P/cam`` and prints ``ready`` once it listens.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=600 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=1",
    "vp8": "vp8enc deadline=1 keyframe-max-dist={gop} target-bitrate=600000 ! rtpvp8pay name=pay0 pt=96",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    encoder = ENCODERS[args.codec].format(gop=args.fps)
    factory.set_launch(f"( videotestsrc is-live=true pattern=ball ! {caps} ! videoconvert ! {encoder} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print("cannot listen", flush=True)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
