"""Erasure (PIPL Art. 47, GDPR Art. 17), suppression of erased identities, and export of one
person's data (PIPL Art. 45, GDPR Art. 15)."""
