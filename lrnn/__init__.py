"""statetrack.lrnn"""
