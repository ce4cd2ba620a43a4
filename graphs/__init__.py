"""Ready-made agent workflows as LangGraph graphs (math with tools, SWE, web)."""

__all__: list[str] = []
