"""cyem placeholder"""
