"""outbound"""
