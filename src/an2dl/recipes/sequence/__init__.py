"""Chapter 4.1 of the notes: recurrent networks, LSTM and GRU on sequences."""
