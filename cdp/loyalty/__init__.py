"""Points and coupons: the same balance and the same coupons in every app."""
