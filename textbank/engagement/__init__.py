"""What members did: per-member engagement firsts and recorded outcomes."""
