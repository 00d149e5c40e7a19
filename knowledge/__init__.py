"""The seats' knowledge base: entries a seat answers from, searched in Chinese and English.

``text`` cuts text into the terms the search matches (pure), ``index`` ranks entries for
a question (pure, in memory).
"""
