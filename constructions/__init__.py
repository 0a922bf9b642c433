"""statetrack.constructions"""
