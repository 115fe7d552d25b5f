"""Post text: Mastodon's TextFormatter vectors (spec/lib/text_formatter_spec.rb), the length count of
StatusLengthValidator, entity extraction, and custom emoji."""

from __future__ import annotations

import pytest

from fediserver.text.emoji import emojify, emojis_from_tags
from fediserver.text.entities import extract, normalize_tag
from fediserver.text.formatter import Account, render
from fediserver.text.length import fit, post_length

LOCAL = "cb6e6126.ngrok.io"
ALICE = Account("alice", None, f"http://{LOCAL}/users/alice", f"http://{LOCAL}/@alice")


def _html(text: str, accounts: dict[tuple[str, str | None], Account] | None = None) -> str:
    return render(text, accounts or {}, lambda name: f"http://{LOCAL}/tags/{name}", local_domain=LOCAL).html


# (text, a substring Mastodon's spec expects) from spec/lib/text_formatter_spec.rb
INCLUDES = [
    ("https://hackernoon.com/the-power-to-build-communities-a-response-to-mark-zuckerberg-3f2cac9148a4",
     'href="https://hackernoon.com/the-power-to-build-communities-a-response-to-mark-zuckerberg-3f2cac9148a4"'),
    ("http://google.com", 'href="http://google.com"'),
    ("http://example.gay", 'href="http://example.gay"'),
    ("https://nic.みんな/", 'href="https://nic.みんな/"'),
    ("https://nic.みんな/", '<span class="">nic.みんな/</span>'),
    ("http://www.mcmansionhell.com/post/156408871451/50-states-of-mcmansion-hell-scottsdale-arizona. ",
     'href="http://www.mcmansionhell.com/post/156408871451/50-states-of-mcmansion-hell-scottsdale-arizona"'),
    ("(http://google.com/)", 'href="http://google.com/"'),
    ("http://www.google.com!", 'href="http://www.google.com"'),
    ("http://www.google.com'", 'href="http://www.google.com"'),
    ("http://www.google.com>", 'href="http://www.google.com"'),
    ("https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&q=autolink",
     'href="https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&amp;q=autolink"'),
    ("https://www.ruby-toolbox.com/search?utf8=✓&q=autolink",
     'href="https://www.ruby-toolbox.com/search?utf8=✓&amp;q=autolink"'),
    ("https://www.ruby-toolbox.com/search?utf8=✓", 'href="https://www.ruby-toolbox.com/search?utf8=✓"'),
    ("https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&utf81=✓&q=autolink",
     'href="https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&amp;utf81=✓&amp;q=autolink"'),
    ("https://en.wikipedia.org/wiki/Diaspora_(software)", 'href="https://en.wikipedia.org/wiki/Diaspora_(software)"'),
    ('"https://example.com/"', 'href="https://example.com/"'),
    ("<https://example.com/>", 'href="https://example.com/"'),
    ("https://ja.wikipedia.org/wiki/日本", 'href="https://ja.wikipedia.org/wiki/日本"'),
    ("https://ko.wikipedia.org/wiki/대한민국", 'href="https://ko.wikipedia.org/wiki/대한민국"'),
    ("https://example.com/\u3000abc123", 'href="https://example.com/"'),
    ("「[https://example.org/」", 'href="https://example.org/"'),
    ("https://baike.baidu.com/item/中华人民共和国", 'href="https://baike.baidu.com/item/中华人民共和国"'),
    ("https://zh.wikipedia.org/wiki/臺灣", 'href="https://zh.wikipedia.org/wiki/臺灣"'),
    ("http://example.com/b<del>b</del>", '"http://example.com/b"'),
    ("http://example.com/b<del>b</del>", "&lt;del&gt;b&lt;/del&gt;"),
    ('http://example.com/blahblahblahblah/a<script>alert("Hello")</script>', '"http://example.com/blahblahblahblah/a"'),
    ('http://example.com/blahblahblahblah/a<script>alert("Hello")</script>',
     "&lt;script&gt;alert(&quot;Hello&quot;)&lt;/script&gt;"),
    ('<script>alert("Hello")</script>', "<p>&lt;script&gt;alert(&quot;Hello&quot;)&lt;/script&gt;</p>"),
    ("""<img src="javascript:alert('XSS');">""", "<p>&lt;img src=&quot;javascript:alert(&#39;XSS&#39;);&quot;&gt;</p>"),
    ("#hashtag", '/tags/hashtag" class="mention hashtag" rel="tag">#<span>hashtag</span></a>'),
    ("#hashtagタグ", '/tags/hashtagタグ" class="mention hashtag" rel="tag">#<span>hashtagタグ</span></a>'),
    ("xmpp:user@instance.com", 'href="xmpp:user@instance.com"'),
    ("please join xmpp:muc@instance.com?join right now", 'href="xmpp:muc@instance.com?join"'),
    ("wikipedia gives this example of a magnet uri: magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
     'href="magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a"'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), INCLUDES)
def test_formatter__mastodon_spec_vectors(text: str, expected: str) -> None:
    assert expected in _html(text)


def test_formatter__exact_outputs() -> None:
    assert _html("text") == "<p>text</p>"
    assert "\n" not in _html("line\nfeed")
    assert _html("line\nfeed\n\n\npara") == "<p>line<br />feed</p><p>para</p>"
    assert _html("http://www\\.google\\.com") == "<p>http://www\\.google\\.com</p>"
    assert _html("   ") == ""
    # TextFormatter.shortened_link: prefix hidden, 30 characters shown, the rest hidden with an ellipsis
    assert _html("see https://www.example.com/0123456789012345678901234567890123") == (
        '<p>see <a href="https://www.example.com/0123456789012345678901234567890123" target="_blank" '
        'rel="nofollow noopener" translate="no"><span class="invisible">https://www.</span>'
        '<span class="ellipsis">example.com/012345678901234567</span>'
        '<span class="invisible">8901234567890123</span></a></p>'
    )


def test_formatter__mentions() -> None:
    # spec: 'when given text containing linkable mentions'
    assert '<a href="http://cb6e6126.ngrok.io/@alice" class="u-url mention">@<span>alice</span></a></span>' in _html(
        "@alice", {("alice", None): ALICE}
    )
    assert _html("@alice") == "<p>@alice</p>"
    remote = Account("bob", "remote.example", "https://remote.example/users/bob", "https://remote.example/@bob")
    accounts = {("alice", None): ALICE, ("bob", "remote.example"): remote}
    rendered = render(
        "hi @Bob@Remote.example and @alice@cb6e6126.ngrok.io, not @carol@nowhere.example",
        accounts,
        lambda n: n,
        local_domain=LOCAL,
    )
    assert rendered.html == (
        '<p>hi <span class="h-card" translate="no"><a href="https://remote.example/@bob" class="u-url mention">'
        '@<span>bob</span></a></span> and <span class="h-card" translate="no"><a href="http://cb6e6126.ngrok.io/@alice"'
        ' class="u-url mention">@<span>alice</span></a></span>, not @carol@nowhere.example</p>'
    )
    assert rendered.mentions == [remote, ALICE]
    # Two mentioned accounts with one username: both shown with their domain (pretty_acct).
    other = Account("alice", "remote.example", "https://remote.example/users/alice", "https://remote.example/@alice")
    both = render(
        "@alice @alice@remote.example", {**accounts, ("alice", "remote.example"): other}, str, local_domain=LOCAL
    )
    assert "@<span>alice</span>" in both.html
    assert "@<span>alice@remote.example</span>" in both.html


def test_entities__no_overlaps_and_mastodon_boundaries() -> None:
    kinds = [(e.kind, e.value) for e in extract("https://x.example/#frag @a@b.example #tag #123 a@b.example foo#bar")]
    assert kinds == [("url", "https://x.example/#frag"), ("mention", "a@b.example"), ("hashtag", "tag")]
    # a mention's host takes a :port only in local development
    assert [e.value for e in extract("@bob@127.0.0.1:8001")] == ["bob@127.0.0.1"]
    assert [e.value for e in extract("@bob@127.0.0.1:8001", allow_ports=True)] == ["bob@127.0.0.1:8001"]
    assert [e.value for e in extract("#café・latte・ #日本")] == ["café・latte", "日本"]
    assert normalize_tag("ＣａｆÉ") == "café"


def test_length__counts_like_mastodon() -> None:
    assert post_length("a" * 10) == 10
    # a link is 23 whatever its length; a remote mention only its @user part
    assert post_length("https://example.com/" + "x" * 200) == 23
    assert post_length("@bob@remote.example hi") == len("@bob hi")
    assert post_length("#tag") == 4
    assert post_length("text", "warning") == 11
    # grapheme clusters: a skin-toned emoji, a flag, a family joined by ZWJ, e + combining accent
    assert post_length("👍🏽🇫🇷👨‍👩‍👧e\u0301") == 4


def test_fit__shortens_to_the_limit() -> None:
    assert fit("short", 10) == "short"
    cut = fit("word " * 200, 500)
    assert post_length(cut) <= 500
    assert cut.endswith("…")
    assert post_length(fit("https://example.com/" + "x" * 50 + " " + "y" * 600, 30)) <= 30


def test_emoji__from_tags_and_rendered_as_images() -> None:
    tags = [
        {"type": "Emoji", "name": ":blobcat:", "icon": {"type": "Image", "url": "https://r.example/e/blobcat.png"}},
        {"type": "Emoji", "name": "blobcat", "icon": {"url": "https://r.example/x.png"}},  # no colons
        {"type": "Emoji", "name": ":evil:", "icon": {"url": "javascript:alert(1)"}},  # not http(s)
        {"type": "Hashtag", "name": "#x", "href": "https://r.example/tags/x"},
    ]
    emojis = emojis_from_tags(tags)
    assert emojis == [{"shortcode": "blobcat", "url": "https://r.example/e/blobcat.png"}]
    html = emojify('<p>hi :blobcat: <a href="https://r.example/:blobcat:">:nope:</a></p>', emojis)
    assert html == (
        '<p>hi <img src="https://r.example/e/blobcat.png" alt=":blobcat:" title=":blobcat:" class="custom-emoji"'
        ' draggable="false"> <a href="https://r.example/:blobcat:">:nope:</a></p>'
    )
