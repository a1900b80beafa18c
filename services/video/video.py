"""The video task: a published review's teaser video, made after publication, then handed to upload.

Reads what the social stage archived for the submission (``youtube/teaser.json`` with the
narration script, ``instagram/post.json``) and the review, makes the files
(``teaser.teaser_files``) and stores them under ``submissions/<id>/video/``, the marker
``video.json`` last: its presence means the teaser is whole, so a message delivered again
skips straight to the hand-off. The same review makes the same bytes, so a second run, or
a revision whose teaser did not change, has nothing new to upload. ``publish_video`` (on
the upload queue: only upload writes public files) publishes it.
"""

from __future__ import annotations

import json
import logging
import time

from services.video.teaser import teaser_files
from services.video.voice import voice_for
from shared.broker.celery_app import app
from shared.keys import VIDEO_FILES, VIDEO_MARKER, content_type_for, output_key, revision_key, video_key
from shared.pipeline import StageTask, get_runtime, hand_off
from shared.queues import task_name

log = logging.getLogger("marquee.video")
SITE_NAME = "Marquee"


@app.task(name=task_name("video"), base=StageTask)
def video(submission_id: str) -> None:
    rt = get_runtime()
    if rt.archive.head(video_key(submission_id, VIDEO_MARKER)) is None:
        started = time.process_time()
        review = rt.load_review(submission_id)
        files = teaser_files(
            review,
            youtube_teaser=json.loads(rt.archive.get(output_key(submission_id, "youtube/teaser.json"))),
            instagram_post=json.loads(rt.archive.get(output_key(submission_id, "instagram/post.json"))),
            voice=voice_for(rt.settings.video_voice, rt.settings.video_voice_name),
            site=SITE_NAME,
            urls={
                name: rt.public_url(revision_key(review.slug, review.revision, f"video/{name}")) for name in VIDEO_FILES
            },
        )
        for name in [*VIDEO_FILES, VIDEO_MARKER]:  # the marker last
            put = rt.archive.put_large if name.endswith(".mp4") else rt.archive.put
            put(video_key(submission_id, name), files[name], content_type=content_type_for(name))
        made = json.loads(files[VIDEO_MARKER])
        log.info(
            json.dumps(
                {
                    "event": "video.made",
                    "id": submission_id,
                    "seconds": made["duration"],
                    "bytes": len(files["video.mp4"]),
                    "cpu_seconds": round(time.process_time() - started, 2),  # this thread's; espeak-ng adds little
                }
            )
        )
    hand_off("publish_video", submission_id)
