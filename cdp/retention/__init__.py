"""Retention (PIPL Art. 19): nothing kept longer than its policy allows."""
