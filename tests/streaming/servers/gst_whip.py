"""A second WebRTC stack for interop tests: GStreamer's webrtcbin speaking WHIP and WHEP.

Run by Debian's ``/usr/bin/python3`` (python3-gi, gstreamer1.0-plugins-bad/-nice, gir1.2-gst-plugins-bad):

    WHIP_TOKEN=... gst_whip.py publish URL [--codec vp8|h264] [--seconds S]  # "published LOCATION", then
                                                                             # "deleted STATUS" after S s
    WHIP_TOKEN=... gst_whip.py play URL [--frames N]                # "frames N CODEC" once decoded

Non-trickle, as the server wants: the offer is sent once ICE gathering is complete. A ``307`` is followed by
re-sending the same POST to ``Location`` (urllib does not follow 307 for POST by itself).
"""

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

ENCODE = {
    "vp8": "vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 "
    "! application/x-rtp,media=video,encoding-name=VP8,payload=96",
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 config-interval=-1 "
    "! application/x-rtp,media=video,encoding-name=H264,payload=102",
}


def http(method, url, token, body=None):
    """Return (status, headers, text, final_url), following 307 for any method."""
    for _ in range(4):
        request = urllib.request.Request(url, data=body.encode() if body else None, method=method)
        request.add_header("Authorization", "Bearer " + token)
        if body:
            request.add_header("Content-Type", "application/sdp")
        opener = urllib.request.build_opener(NoRedirect())
        try:
            response = opener.open(request, timeout=20)
            return response.status, response.headers, response.read().decode(), url
        except urllib.error.HTTPError as exc:
            if exc.code == 307:
                url = urllib.parse.urljoin(url, exc.headers["Location"])
                continue
            return exc.code, exc.headers, exc.read().decode(), url
    raise RuntimeError("too many redirects")


def ipv4_only(sdp):
    """Keep IPv4 candidates: link-local IPv6 pairs on CI hosts nominate but do not carry DTLS."""
    lines = sdp.splitlines()
    kept = [line for line in lines if not (line.startswith("a=candidate:") and ":" in line.split()[4])]
    return "\r\n".join(kept) + "\r\n"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.location = None
        self.offered = False
        self.sent = False
        self.frames = 0
        self.codec = ""
        if args.mode == "publish":
            raw = "video/x-raw,width=640,height=480,framerate=30/1"
            src = f"videotestsrc is-live=true pattern=ball ! {raw} ! videoconvert ! {ENCODE[args.codec]}"
            self.pipe = Gst.parse_launch(f"{src} ! webrtcbin name=w bundle-policy=max-bundle")
        else:
            self.pipe = Gst.Pipeline.new("play")
            webrtc = Gst.ElementFactory.make("webrtcbin", "w")
            webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
            self.pipe.add(webrtc)
        self.webrtc = self.pipe.get_by_name("w")
        if args.mode == "play":
            caps = Gst.caps_from_string(
                "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000;"
                "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
                "packetization-mode=(string)1,profile-level-id=(string)42e01f"
            )
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
            self.webrtc.connect("pad-added", self.on_pad)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    def run(self):
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add_seconds(60, self.give_up)
        self.loop.run()
        self.pipe.set_state(Gst.State.NULL)

    def give_up(self):
        print("timeout", flush=True)
        self.loop.quit()
        return False

    def on_error(self, _bus, message):
        print("error", message.parse_error()[0].message, flush=True)
        self.loop.quit()

    def on_negotiation_needed(self, element):
        if self.offered:  # webrtcbin may ask again while the first offer is still pending
            return
        self.offered = True
        promise = Gst.Promise.new_with_change_func(self.on_offer, element, None)
        element.emit("create-offer", None, promise)

    def on_offer(self, promise, element, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None else None
        if offer is None:
            print("no offer", reply.to_string() if reply is not None else None, flush=True)
            GLib.idle_add(self.loop.quit)
            return
        element.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering(self, element, _pspec):
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self.send_offer)

    def send_offer(self):
        if self.sent:
            return False
        self.sent = True
        sdp = ipv4_only(self.webrtc.get_property("local-description").sdp.as_text())
        status, headers, text, final = http("POST", self.args.url, self.args.token, sdp)
        if status != 201:
            print(f"refused {status} {text[:200]}", flush=True)
            self.loop.quit()
            return False
        self.location = urllib.parse.urljoin(final, headers["Location"])
        _, message = GstSdp.SDPMessage.new_from_text(ipv4_only(text))
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        if self.args.mode == "publish":
            print("published", self.location, flush=True)
            GLib.timeout_add(int(self.args.seconds * 1000), self.finish)
        return False

    def finish(self):
        status, _, _, _ = http("DELETE", self.location, self.args.token)
        print("deleted", status, flush=True)
        self.loop.quit()
        return False

    def on_pad(self, _element, pad):
        caps = pad.get_current_caps().get_structure(0)
        self.codec = caps.get_string("encoding-name")
        depay, decode = ("rtpvp8depay", "vp8dec") if self.codec == "VP8" else ("rtph264depay", "avdec_h264")
        sink = Gst.parse_bin_from_description(
            f"{depay} ! {decode} ! fakesink name=sink signal-handoffs=true", True
        )
        sink.get_by_name("sink").connect("handoff", self.on_frame)
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

    def on_frame(self, *_):
        self.frames += 1
        if self.frames == self.args.frames:
            GLib.idle_add(self.played)

    def played(self):
        print("frames", self.frames, self.codec, flush=True)
        http("DELETE", self.location, self.args.token)
        self.loop.quit()
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("url")
    parser.add_argument("--codec", choices=sorted(ENCODE), default="vp8")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    args.token = os.environ["WHIP_TOKEN"]
    Gst.init(None)
    Client(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
