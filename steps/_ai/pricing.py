"""What a model call costs: the price per 1,000 tokens of the model, and the usage it adds up to."""

from __future__ import annotations

from .._artifacts import AiUsage
from .._settings import Settings

__all__ = ["PRICES_CNY_PER_1K", "call_usage", "price_of"]

# DashScope list prices in the Chinese mainland region, yuan per 1,000 tokens (prompt, completion),
# for inputs up to 32K tokens, as published in 2025. Prices change: VI_LLM_PRICE_INPUT and
# VI_LLM_PRICE_OUTPUT (with VI_LLM_CURRENCY) override them, and name the price of any other model.
PRICES_CNY_PER_1K: dict[str, tuple[float, float]] = {
    "qwen-vl-max": (0.0016, 0.004),
    "qwen-vl-plus": (0.0008, 0.002),
    "qwen3-vl-plus": (0.001, 0.01),
    "qwen-plus": (0.0008, 0.002),
}


def price_of(settings: Settings) -> tuple[float, float] | None:
    """(prompt, completion) price per 1,000 tokens in ``settings.llm_currency``; None when unknown."""
    if settings.llm_price_input is not None and settings.llm_price_output is not None:
        return settings.llm_price_input, settings.llm_price_output
    if settings.llm_currency == "CNY" and settings.llm_model in PRICES_CNY_PER_1K:
        return PRICES_CNY_PER_1K[settings.llm_model]
    return None


def call_usage(
    settings: Settings, model: str, prompt_tokens: int | None, completion_tokens: int | None
) -> AiUsage:
    """The usage of one answered request; its cost is unknown when the price or the token counts are."""
    price = price_of(settings)
    counted = prompt_tokens is not None and completion_tokens is not None
    cost = None
    if price is not None and counted:
        cost = round(((prompt_tokens or 0) * price[0] + (completion_tokens or 0) * price[1]) / 1000, 6)
    return AiUsage(
        model=model,
        calls=1,
        prompt_tokens=prompt_tokens or 0,
        completion_tokens=completion_tokens or 0,
        cost=cost,
        currency=settings.llm_currency,
    )
