namespace Granary.Queues;

/// <summary>
/// AMQP topic matching: routing keys and patterns are dot-separated words; in a pattern <c>*</c>
/// matches exactly one word and <c>#</c> matches zero or more words.
/// </summary>
/// <example><code>TopicPattern.Matches("order.*.eu", "order.created.eu"); // true
/// TopicPattern.Matches("order.#", "order");                       // true</code></example>
public static class TopicPattern
{
    /// <summary>True when <paramref name="routingKey"/> matches <paramref name="pattern"/>.</summary>
    public static bool Matches(string pattern, string routingKey)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(routingKey);
        var p = pattern.Split('.');
        var k = routingKey.Length == 0 ? [] : routingKey.Split('.');
        // memo[i, j]: does p[i..] match k[j..]? Bounded by (words in pattern) x (words in key).
        var memo = new bool?[p.Length + 1, k.Length + 1];
        return Match(p, k, 0, 0, memo);
    }

    private static bool Match(string[] p, string[] k, int i, int j, bool?[,] memo)
    {
        if (memo[i, j] is { } known)
        {
            return known;
        }

        bool result;
        if (i == p.Length)
        {
            result = j == k.Length;
        }
        else if (p[i] == "#")
        {
            // '#' takes no word, or one word and stays.
            result = Match(p, k, i + 1, j, memo) || (j < k.Length && Match(p, k, i, j + 1, memo));
        }
        else if (j == k.Length)
        {
            result = false;
        }
        else
        {
            result = (p[i] == "*" || string.Equals(p[i], k[j], StringComparison.Ordinal)) && Match(p, k, i + 1, j + 1, memo);
        }

        memo[i, j] = result;
        return result;
    }
}
