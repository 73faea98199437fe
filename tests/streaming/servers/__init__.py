"""Real media servers started by the tests (RTSP by GStreamer, RTMP by nginx fed by ffmpeg)."""
