"""pyproject's warning filters, as pytest applies them to every test: a DeprecationWarning our code
causes fails the test; one raised inside a third-party library does not."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str, category: type[Warning] = DeprecationWarning) -> None:
    # Attributed to `module` as a `warnings.warn(..., stacklevel=...)` there would be.
    warnings.warn_explicit("old API", category, filename=module.replace(".", "/") + ".py", lineno=1,
                           module=module)


@pytest.mark.parametrize("module", ["bot.app", "agent.nodes", "adapters.slack.adapter", "tests.conftest",
                                    "bench.run", "bot"])
@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning])
def test_a_deprecation_in_our_code_fails_the_test(module: str, category: type[Warning]) -> None:
    with pytest.raises(category, match="old API"):
        _warn_from(module, category)


@pytest.mark.parametrize("module", ["chromadb.api", "langchain_core.messages", "botocore.client", "agentic"])
def test_a_deprecation_inside_a_library_is_only_reported(module: str) -> None:
    with warnings.catch_warnings(record=True) as caught:  # keeps the filters; collects instead of printing
        _warn_from(module)
    assert [str(w.message) for w in caught] == ["old API"]
