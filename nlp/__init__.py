"""Chinese NLP: normalisation, sentiment, keywords, topics and CEM touchpoints."""
