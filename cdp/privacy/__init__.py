"""The person's own rights where they are (PIPL Arts. 44-47): cancelling their account."""
