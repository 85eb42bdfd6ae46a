"""Per built-in kind knowledge: field selectors, strategic-merge keys, validation rules."""
