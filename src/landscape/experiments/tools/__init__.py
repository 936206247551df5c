"""Diagnostics and demos on the user's models: demo, hessian, connect, inspect, theory."""
