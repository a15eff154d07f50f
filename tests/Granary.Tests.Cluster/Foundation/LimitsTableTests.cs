using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Granary.Caching;
using Granary.Locks;
using Granary.Scheduling.Handlers;
using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The README's "Limits" table is the one place the limits are documented: every row must name a
/// constant of <see cref="Limits"/> and state its value, and every constant must have a row.
/// </summary>
public sealed partial class LimitsTableTests
{
    [Fact]
    public void Readme_limits_table_and_the_constants_agree()
    {
        var rows = ReadmeRows();
        var constants = Constants();
        Assert.True(rows.Count >= 20, $"the README's Limits table has only {rows.Count} rows");

        var problems = new List<string>();
        foreach (var (name, text) in rows)
        {
            if (!constants.TryGetValue(name, out var value))
            {
                problems.Add($"README names `{name}`, which is not a constant of Limits");
                continue;
            }

            var documented = ParseDocumented(text);
            if (documented is null)
            {
                problems.Add($"README's value '{text}' for `{name}` cannot be read");
            }
            else if (documented.Value != value)
            {
                problems.Add($"README says {text} ({documented.Value}) for `{name}`; the constant is {value}");
            }
        }

        foreach (var name in constants.Keys.Except(rows.Select(r => r.Name)))
        {
            problems.Add($"`{name}` has no row in the README's Limits table");
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Core_defaults_equal_the_table()
    {
        // Core is free of the contracts, so its own defaults must be checked against the table.
        var lease = new LeaseTableLimits();
        Assert.Equal(Limits.MaxKeyLength, lease.MaxOwnerLength);
        Assert.Equal(Limits.Locks.MaxPermits, lease.MaxPermits);
        var keyspace = new CacheKeyspaceOptions();
        Assert.Equal(Limits.MaxKeyLength, keyspace.MaxKeyLength);
        Assert.Equal(Limits.Caching.MaxValueLength, keyspace.MaxValueLength);
        Assert.Equal(Limits.Scheduling.MaxArgumentsLength, TaskHandlerRegistry.MaxArgumentsLength);
    }

    [Fact]
    public void A_full_batch_of_largest_values_fits_in_one_message()
    {
        // Bodies are bytes; keys are at most 3 UTF-8 bytes per character; one key and one id per item.
        const long perItem = Limits.MaxValueLength + (2L * 3 * Limits.MaxKeyLength) + 64;
        Assert.True(
            (Limits.MaxBatchSize * perItem) + (1024 * 1024) <= Limits.MaxMessageBytes,
            $"{Limits.MaxBatchSize} items of {perItem} bytes do not fit in {Limits.MaxMessageBytes}");
    }

    private static List<(string Name, string Text)> ReadmeRows()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "README.md"));
        var start = Array.IndexOf(lines, "## Limits");
        Assert.True(start >= 0, "README.md has no '## Limits' section");
        var rows = new List<(string, string)>();
        for (var i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            var cells = lines[i].Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length == 5 && ConstantCell().Match(cells[3]) is { Success: true } m)
            {
                rows.Add((m.Groups[1].Value, cells[2]));
            }
        }

        return rows;
    }

    /// <summary>Every public constant and static read-only field of <see cref="Limits"/> and its nested classes, by dotted name, as a number (time spans in milliseconds).</summary>
    private static Dictionary<string, decimal> Constants()
    {
        var all = new Dictionary<string, decimal>(StringComparer.Ordinal);
        Collect(typeof(Limits), "Limits", all);
        return all;

        static void Collect(Type type, string prefix, Dictionary<string, decimal> into)
        {
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static))
            {
                into[prefix + "." + field.Name] = field.GetValue(null) switch
                {
                    int i => i,
                    long l => l,
                    TimeSpan t => (decimal)t.TotalMilliseconds,
                    var other => throw new InvalidOperationException($"{prefix}.{field.Name} is a {other?.GetType().Name}: teach this test to read it"),
                };
            }

            foreach (var nested in type.GetNestedTypes(BindingFlags.Public))
            {
                Collect(nested, prefix + "." + nested.Name, into);
            }
        }
    }

    /// <summary>"65,536 characters (64 KiB)" = 65536, "72 MiB" = 75497472, "20 s" = 20000 (ms), "1 day" = 86400000 (ms).</summary>
    private static decimal? ParseDocumented(string text)
    {
        var m = ValueCell().Match(text);
        if (!m.Success)
        {
            return null;
        }

        var number = decimal.Parse(m.Groups[1].Value.Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "KiB" => number * 1024,
            "MiB" => number * 1024 * 1024,
            "ms" => number,
            "s" => number * 1000,
            "min" => number * 60_000,
            "h" => number * 3_600_000,
            "day" or "days" => number * 86_400_000,
            _ => number,
        };
    }

    [GeneratedRegex(@"^`(Limits(?:\.\w+)+)`$")]
    private static partial Regex ConstantCell();

    [GeneratedRegex(@"^([\d,]+)\s*(KiB|MiB|ms|s|min|h|days?|characters|bytes|items)?\b")]
    private static partial Regex ValueCell();
}
