"""The social stage: Instagram and YouTube teasers, made by one task, ``social``.

It makes ``instagram/card.jpg``, ``instagram/caption.txt``, ``instagram/post.json`` and
``instagram.json``, then ``youtube/thumbnail.jpg``, ``youtube/teaser.json`` and
``youtube.json``. The work is in pure functions (``instagram.instagram_files`` /
``youtube.youtube_files``); the look is in ``look.py``. See docs/SOCIAL.md.
"""
