"""sigmapack: convert the T1543 Sigma rule pack to KQL, Splunk SPL and Elastic queries."""

__version__ = "0.1.0"
