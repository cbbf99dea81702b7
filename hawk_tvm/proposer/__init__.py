"""Proposers turn a workload plus knowledge into candidate schedule programs."""
