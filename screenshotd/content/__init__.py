"""What a page says, beside what it looks like: ``extract`` (main content as markdown, HTML or
text, and metadata), run off the event loop."""
