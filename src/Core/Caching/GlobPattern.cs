namespace Granary.Caching;

/// <summary>Redis glob matching (<c>*</c>, <c>?</c>, <c>[abc]</c>, <c>[^a-z]</c>, <c>\x</c>) as used by SCAN MATCH and KEYS.</summary>
public static class GlobPattern
{
    /// <summary>True when <paramref name="text"/> matches <paramref name="pattern"/> (case-sensitive).</summary>
    public static bool IsMatch(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        return Match(pattern.AsSpan(), text.AsSpan(), 0);
    }

    private static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> s, int depth)
    {
        if (depth > 1000)
        {
            return false;
        }

        while (p.Length > 0)
        {
            switch (p[0])
            {
                case '*':
                    while (p.Length > 1 && p[1] == '*')
                    {
                        p = p[1..];
                    }

                    if (p.Length == 1)
                    {
                        return true;
                    }

                    for (var i = 0; i <= s.Length; i++)
                    {
                        if (Match(p[1..], s[i..], depth + 1))
                        {
                            return true;
                        }
                    }

                    return false;
                case '?':
                    if (s.Length == 0)
                    {
                        return false;
                    }

                    s = s[1..];
                    break;
                case '[':
                {
                    if (s.Length == 0)
                    {
                        return false;
                    }

                    p = p[1..];
                    var negate = p.Length > 0 && p[0] == '^';
                    if (negate)
                    {
                        p = p[1..];
                    }

                    var matched = false;
                    while (p.Length > 0 && p[0] != ']')
                    {
                        if (p[0] == '\\' && p.Length >= 2)
                        {
                            p = p[1..];
                            matched |= p[0] == s[0];
                        }
                        else if (p.Length >= 3 && p[1] == '-')
                        {
                            var lo = p[0];
                            var hi = p[2];
                            if (lo > hi)
                            {
                                (lo, hi) = (hi, lo);
                            }

                            matched |= s[0] >= lo && s[0] <= hi;
                            p = p[2..];
                        }
                        else
                        {
                            matched |= p[0] == s[0];
                        }

                        p = p[1..];
                    }

                    if (negate)
                    {
                        matched = !matched;
                    }

                    if (!matched)
                    {
                        return false;
                    }

                    s = s[1..];
                    if (p.Length == 0)
                    {
                        // Unterminated class: Redis treats the end of pattern as the end of the class.
                        return s.Length == 0;
                    }

                    break;
                }

                case '\\' when p.Length >= 2:
                    p = p[1..];
                    if (s.Length == 0 || p[0] != s[0])
                    {
                        return false;
                    }

                    s = s[1..];
                    break;
                default:
                    if (s.Length == 0 || p[0] != s[0])
                    {
                        return false;
                    }

                    s = s[1..];
                    break;
            }

            p = p[1..];
        }

        return s.Length == 0;
    }
}
