"""The video stage: a vertical teaser (YouTube Shorts, Instagram Reels) for a published review.

Runs after publication, on its own queue, so a slow encode never holds back an article.
``video.py`` is the task; the pure work is in ``voice`` (text to speech), ``narration``
(phrases, their timing, the length limits), ``loudness`` (−14 LUFS, true peak ≤ −1 dBTP),
``captions`` (WebVTT and SRT), ``frames`` (the pictures and the safe zone), ``encode``
(H.264/AAC MP4 with PyAV) and ``teaser`` (all of it together, the files to publish).
"""
