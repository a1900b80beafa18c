"""Loudness: the narration brought to −14 LUFS integrated with its true peak at most −1 dBTP.

−14 LUFS is what YouTube and Instagram normalise playback to (quieter uploads are played
quieter, louder ones turned down), and −1 dBTP the ceiling EBU R 128 and the platforms'
guidance give so that lossy encoding does not clip. Loudness is measured with pyloudnorm
(ITU-R BS.1770-4), true peak as BS.1770-4 Annex 2 does: the peak of the signal
oversampled four times. Speech peaks far above its average, so a plain gain to −14 LUFS
would clip: a look-ahead peak limiter holds the true peak to ``CEILING`` (a margin under
−1 dBTP for the AAC encoder's own overshoot), and gain and limiter are repeated until
the level settles within ``TOLERANCE``.
"""

from __future__ import annotations

import numpy as np
import pyloudnorm

TARGET_LUFS = -14.0
MAX_TRUE_PEAK = -1.0  # dBTP
CEILING = -2.0  # dBTP the limiter holds to: AAC at 128 kb/s overshoots by a few tenths
TOLERANCE = 0.4  # LU: within the ±1 LU asked, with room for the AAC encoder's own drift
OVERSAMPLE = 4
_TAPS = 12  # per phase of the interpolating filter (48 in all, as BS.1770-4's example)
LIMITER_WINDOW = 0.005  # seconds: the gain falls over this long before a peak and recovers after


def integrated_lufs(samples: np.ndarray, *, rate: int) -> float:
    """Integrated loudness (BS.1770-4, gated), in LUFS; -inf for silence."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def _phases(samples: np.ndarray) -> list[np.ndarray]:
    """The signal oversampled OVERSAMPLE times, as its phases (a windowed-sinc polyphase filter)."""
    n = np.arange(-_TAPS // 2 + 1, _TAPS // 2 + 1)
    out = [samples]
    for phase in range(1, OVERSAMPLE):
        taps = np.sinc(n - phase / OVERSAMPLE) * np.kaiser(_TAPS, 6.0)
        out.append(np.convolve(samples, taps / taps.sum(), mode="same"))
    return out


def peak_envelope(samples: np.ndarray) -> np.ndarray:
    """Per sample, the largest absolute value of the oversampled signal around it."""
    return np.max(np.abs(np.stack(_phases(samples))), axis=0)


def true_peak_dbtp(samples: np.ndarray) -> float:
    peak = float(peak_envelope(samples).max()) if samples.size else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _sliding_min(values: np.ndarray, width: int) -> np.ndarray:
    """The minimum over a window of ``width`` samples either side, in log2(width) passes."""
    out, reach = values.copy(), 1
    while reach <= width:
        out[reach:] = np.minimum(out[reach:], out[:-reach])
        out[:-reach] = np.minimum(out[:-reach], out[reach:])
        reach *= 2
    return out


def limit(samples: np.ndarray, *, rate: int, ceiling_dbtp: float = CEILING) -> np.ndarray:
    """Samples whose true peak stays under ``ceiling_dbtp``: the gain needed at each peak,
    held over the window around it and smoothed, so no peak passes and nothing clicks."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    envelope = peak_envelope(samples)
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-9))
    width = max(1, int(LIMITER_WINDOW * rate))
    held = _sliding_min(needed, width)
    # A moving average (over ``width``, centred; by running sums) of a minimum held ``width``
    # either side stays under the gain each peak needs.
    sums = np.concatenate([[0.0], np.cumsum(held, dtype=np.float64)])
    lo = np.clip(np.arange(held.size) - width // 2, 0, held.size)
    hi = np.clip(lo + width, 0, held.size)
    smooth = (sums[hi] - sums[lo]) / np.maximum(hi - lo, 1)
    return (samples * np.minimum(smooth, held)).astype(np.float32)


def normalise(samples: np.ndarray, *, rate: int, target: float = TARGET_LUFS) -> np.ndarray:
    """``samples`` at ``target`` LUFS (within TOLERANCE) with their true peak under CEILING."""
    source = samples.astype(np.float32)
    level = integrated_lufs(source, rate=rate)
    if not np.isfinite(level):
        return source  # silence stays silence
    # The limiter takes back some of the gain; the gain grows by more than what is still
    # missing, from the source each time, so the level settles in two or three rounds.
    gain, out = target - level, source
    for _ in range(5):
        out = limit(source * np.float32(10 ** (gain / 20)), rate=rate)
        level = integrated_lufs(out, rate=rate)
        if abs(level - target) <= TOLERANCE:
            break
        # Each dB more gain yields less than a dB more loudness once the limiter works: overshoot.
        gain += 1.5 * (target - level)
    return out
