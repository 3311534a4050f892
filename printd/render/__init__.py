"""Rendering for paper: the artist (image → printable art), the art files beside it, the test sheets."""
