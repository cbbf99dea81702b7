"""Hardware-aware knowledge: triples, the SQLite store, two retrieval spaces over Annoy, synthesis, distillation."""
