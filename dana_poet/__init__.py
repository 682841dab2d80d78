"""dana-poet: the Dana language with POET built in."""
