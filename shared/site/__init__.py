"""The public site's look, shared by the stages that write pages: render (articles) and
upload (the index and feeds). One look, one set of templates, one palette."""
