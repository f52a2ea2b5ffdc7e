"""The user's files (dvc's word): hashing them, the digest cache, kinds, tabular profiles."""
