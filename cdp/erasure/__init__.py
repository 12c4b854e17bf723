"""Erasure (PIPL Art. 47, GDPR Art. 17) and export of one person's data (PIPL Art. 45, GDPR
Art. 15); the requests and the suppression list they leave behind live in cdp.suppression."""
