"""The console\x27s support desk: its page and scripts, and the desk in Chromium."""
