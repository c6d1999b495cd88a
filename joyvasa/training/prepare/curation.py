"""What is measured on each clip (no extra weights needed) and the thresholds that keep a clip
out of the split and the template; the manifest's rows."""

from __future__ import annotations

from dataclasses import dataclass

from joyvasa.options import _Checked, setting

LIP_SYNC_MAX_LAG = 10  # frames searched each way for the lip-loudness lag


@dataclass(frozen=True)
class CurationOptions(_Checked):
    """Thresholds that keep a clip out of the split and the template (it stays on disk and in
    the manifest, with the reason)."""

    min_face_size: float = setting(0.0, "Drop clips whose face box is smaller than this many pixels of the "
                                        "video (0 = keep all).", min=0.0, max=4096.0, step=1.0)
    min_sharpness: float = setting(0.0, "Drop clips whose crops are blurrier than this (variance of the "
                                        "Laplacian, 0..255 scale; ~100 looks soft; 0 = keep all).",
                                   min=0.0, max=100000.0, step=1.0)
    min_lip_sync: float = setting(-1.0, "Drop clips whose lip opening correlates with the loudness less than "
                                        "this at the best lag (-1 = keep all).", min=-1.0, max=1.0, step=0.01)
    max_lip_lag: int = setting(LIP_SYNC_MAX_LAG, "Drop clips whose best lip-loudness lag is more than this many "
                                                 f"frames ({LIP_SYNC_MAX_LAG} = keep all).",
                               min=0, max=LIP_SYNC_MAX_LAG)
    max_head_range: float = setting(180.0, "Drop clips whose head turns through more than this many degrees "
                                           "(largest of the pitch, yaw and roll ranges; 180 = keep all).",
                                    min=0.0, max=180.0, step=1.0)

    def reasons(self, row: dict) -> list[str]:
        """Why the manifest ``row`` is dropped ([] = kept)."""
        out = []
        if row["face_size"] < self.min_face_size:
            out.append(f"face_size {row['face_size']:.0f} < {self.min_face_size:g}")
        if row["sharpness"] < self.min_sharpness:
            out.append(f"sharpness {row['sharpness']:.1f} < {self.min_sharpness:g}")
        sync, lag = row["lip_sync"], row["lip_lag"]
        if self.min_lip_sync > -1.0 and (sync is None or sync < self.min_lip_sync):
            out.append(f"lip_sync {sync} < {self.min_lip_sync:g}")
        if self.max_lip_lag < LIP_SYNC_MAX_LAG and (lag is None or abs(lag) > self.max_lip_lag):
            out.append(f"lip_lag {lag} beyond {self.max_lip_lag}")
        head = max(row["pitch_range"], row["yaw_range"], row["roll_range"])
        if head > self.max_head_range:
            out.append(f"head range {head:.1f} > {self.max_head_range:g} deg")
        return out


def _measures(motion, audio, shot, sharpness: float) -> dict:
    from joyvasa import quality

    def angle_range(values) -> float:
        return round(float(values.max() - values.min()), 3)

    sync, lag = None, None
    max_lag = min(LIP_SYNC_MAX_LAG, (len(motion) - 3) // 2)  # a short clip searches fewer lags
    if max_lag >= 1:
        result = quality.lip_sync(motion, audio, max_lag)
        sync, lag = round(result["best_correlation"], 4), result["peak_lag"]  # None: no peak inside the search
    return {"face_size": round(shot.face_size, 1), "sharpness": round(sharpness, 2),
            "face_fraction": round(shot.face_fraction, 3), "pitch_range": angle_range(motion.pitch),
            "yaw_range": angle_range(motion.yaw), "roll_range": angle_range(motion.roll),
            "lip_sync": sync, "lip_lag": lag}


def _manifest_rows(records: dict, side_table: dict, curation: CurationOptions, videos: dict) -> list[dict]:
    rows = []
    for video_id, record in records.items():
        if video_id not in videos:  # a video removed from VIDEOS_DIR: its clips stay out
            continue
        for row in record["clips"]:
            row = {**row, **side_table.get(video_id, {})}
            reasons = curation.reasons(row)
            row["kept"], row["dropped_because"] = not reasons, "; ".join(reasons)
            rows.append(row)
    return sorted(rows, key=lambda row: row["clip_id"])


def short_clip_warning(rows: list[dict], n_motions: int) -> str | None:
    """A warning naming the kept clips too short for one training window of ``n_motions``
    frames (training passes over them), or None when every kept clip is long enough."""
    short = [row["clip_id"] for row in rows if row.get("kept", True) and row.get("frames", 0) <= n_motions]
    if not short:
        return None
    return (f"warning: {len(short)} kept clip(s) have at most {n_motions} frames, shorter than one training window "
            f"(n_motions {n_motions}); train will not use them (e.g. {', '.join(short[:3])}). Raise --min-seconds "
            f"to leave them out here.")
