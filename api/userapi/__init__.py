"""User API: a read-only HTTP view of the Main.Users table."""
