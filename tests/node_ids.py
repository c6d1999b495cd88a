"""Every node id the pack must register (the node-contract and real-server tests share it)."""

EXPECTED_NODES = {
    "JoyVASALoadLivePortrait",
    "JoyVASALoadMotionGenerator",
    "JoyVASAExtractSource",
    "JoyVASAEncodeAudio",
    "JoyVASASampleMotion",
    "JoyVASAEditMotion",
    "JoyVASAPreviewMotion",
    "JoyVASAMotionReport",
    "JoyVASARender",
    "JoyVASARenderToVideo",
    "JoyVASASaveMotion",
    "JoyVASALoadMotion",
    "JoyVASAAnimate",
    "JoyVASAExtractMotionFromVideo",
    "JoyVASADubVideo",
    "JoyVASALipSyncScore",
}
