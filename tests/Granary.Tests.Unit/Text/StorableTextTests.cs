using Granary.Text;

namespace Granary.Tests.Unit.Text;

/// <summary>
/// Text that reaches a PostgreSQL <c>text</c> column must hold no U+0000 and no unpaired surrogate;
/// the rule says where the problem is, and accepts every well-formed string, surrogate pairs included.
/// </summary>
public sealed class StorableTextTests
{
    [Theory]
    [InlineData("plain")]
    [InlineData("")]
    [InlineData("caf\u00e9 \u4e2d \U0001F600 end")]
    [InlineData("\U0001F600")]
    public void Well_formed_text_is_storable(string text) => Assert.Null(StorableText.Problem(text));

    /// <summary>Bad strings and the end of the expected problem (built here: a theory's string data loses a lone surrogate on its way to the test).</summary>
    private static readonly (string Text, string Expected)[] Bad =
    [
        ("a\0b", "U+0000 (NUL) at index 1"),
        ("\0", "U+0000 (NUL) at index 0"),
        ("ab" + (char)0xD800, "unpaired surrogate U+D800 at index 2"),
        ((char)0xDC00 + "ab", "unpaired surrogate U+DC00 at index 0"),
        ("\U0001F600" + (char)0xD83D + " x", "unpaired surrogate U+D83D at index 2"),
        (new string([(char)0xD800, (char)0xD800, (char)0xDC00]), "unpaired surrogate U+D800 at index 0"),
    ];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Nul_and_unpaired_surrogates_are_refused_with_their_index(int index)
    {
        var (text, expected) = Bad[index];
        var problem = StorableText.Problem(text);
        Assert.NotNull(problem);
        Assert.EndsWith(expected, problem, StringComparison.Ordinal);
        Assert.False(StorableText.IsStorable(text));
    }
}
