"""Chapter 4.4 of the notes: the Transformer's recipes (``gpt-shakespeare``, a character GPT on Tiny Shakespeare;
``transformer-eng-fra`` and ``transformer-multi30k``, translation against the attention GRU)."""
