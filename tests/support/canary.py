"""The test database password: distinctive, so a leak is easy to find, and full of the characters that
break hand-built connection URLs."""

DB_PASSWORD = "Kx7@pw/ord:zQ9#leak-canary"
