using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Granary.Tests.Cluster.Memcached;

/// <summary>
/// Seeded random Memcached command streams over a few keys: every command of the text protocol the
/// endpoint speaks (storage commands with flags, every exptime form but long waits, noreply, cas with
/// uniques seen earlier, multi-key gets, incr/decr edge cases) and malformed lines. A cas unique is
/// written <c>{cas:N}</c> (the N-th unique a server answered so far): each server gets its own.
/// </summary>
internal static partial class MemcachedDifferential
{
    private static readonly string[] Values = ["v", "hello world", "0", "1", "42", "99", "100", " 7", "8 ", "+5", "-5", "18446744073709551615", "18446744073709551614", "12abc", "é日本", string.Empty, "abc def"];
    private static readonly string[] Deltas = ["1", "0", "10", "18446744073709551615", "18446744073709551616", "-1", "abc", "+3", "99999999999"];
    private static readonly string[] Flags = ["0", "1", "42", "4294967295", "65536"];

    /// <summary>
    /// The stream: each element is one command's bytes (a line, and its data block for storage commands). When
    /// <paramref name="pipelined"/>, a get with a too-long key is left out: memcached 1.6 then drops the replies
    /// of the commands before it in the same read, which Granary does not copy.
    /// </summary>
    public static List<string> Generate(int seed, int count, string prefix, bool pipelined)
    {
        var random = new Random(seed);
        var keys = Enumerable.Range(0, 6).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string Key() => keys[random.Next(keys.Length)];
        string Pick(string[] from) => from[random.Next(from.Length)];
        string NoReply() => random.Next(6) == 0 ? " noreply" : string.Empty;
        string Exptime() => random.Next(12) switch
        {
            0 => "-1",
            1 => "1000",
            2 => (now + 3600).ToString(CultureInfo.InvariantCulture),
            3 => (now - 3600).ToString(CultureInfo.InvariantCulture),
            4 => "2592001",
            5 => "2592000",
            _ => "0",
        };
        string Cas() => random.Next(5) == 0 ? "999999999" : "{cas:" + random.Next(3).ToString(CultureInfo.InvariantCulture) + "}";

        var commands = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var value = Pick(Values);
            var bytes = Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture);
            commands.Add(random.Next(40) switch
            {
                < 6 => $"set {Key()} {Pick(Flags)} {Exptime()} {bytes}{NoReply()}\r\n{value}\r\n",
                6 => $"add {Key()} {Pick(Flags)} {Exptime()} {bytes}{NoReply()}\r\n{value}\r\n",
                7 => $"replace {Key()} {Pick(Flags)} {Exptime()} {bytes}{NoReply()}\r\n{value}\r\n",
                8 => $"append {Key()} {Pick(Flags)} 0 {bytes}{NoReply()}\r\n{value}\r\n",
                9 => $"prepend {Key()} {Pick(Flags)} 0 {bytes}{NoReply()}\r\n{value}\r\n",
                < 13 => $"cas {Key()} {Pick(Flags)} {Exptime()} {bytes} {Cas()}{NoReply()}\r\n{value}\r\n",
                < 17 => $"get {Key()}\r\n",
                < 19 => $"gets {Key()} {Key()} {Key()}\r\n",
                19 => $"get {Key()} {Key()} {Key()} {Key()}\r\n",
                < 24 => $"{(random.Next(2) == 0 ? "incr" : "decr")} {Key()} {Pick(Deltas)}{NoReply()}\r\n",
                < 26 => $"delete {Key()}{(random.Next(4) == 0 ? " 0" : string.Empty)}{NoReply()}\r\n",
                26 => $"touch {Key()} {Exptime()}{NoReply()}\r\n",
                27 => $"gat {Exptime()} {Key()} {Key()}\r\n",
                28 => $"gats {Exptime()} {Key()}\r\n",
                29 => random.Next(4) == 0 ? "flush_all\r\n" : random.Next(2) == 0 ? "flush_all 0\r\n" : "flush_all noreply\r\n",
                30 => "verbosity 1\r\n",
                _ => Malformed(random, Key(), pipelined),
            });
        }

        return commands;
    }

    private static string Malformed(Random random, string key, bool pipelined) => random.Next(22) switch
    {
        0 => "bogus\r\n",
        1 => "\r\n",
        2 => $"GET {key}\r\n",
        3 => $"set {key} 0 0\r\n",
        4 => $"set {key} 0 0 abc\r\nxyz\r\n",
        5 => $"set {key} 0 0 -1\r\n",
        6 => $"set {key} 0 0 3\r\nabcdefg\r\n",
        7 => $"set {key} 0 0 1\r\nxbc\r\n",
        8 => $"set {new string('k', 251)} 0 0 1\r\nx\r\n",
        9 when !pipelined => $"get {key} {new string('k', 251)}\r\n",
        10 => $"incr {key}\r\n",
        11 => $"delete {key} 5\r\n",
        12 => $"delete {key} 5 noreply\r\n",
        13 => $"touch {key} abc\r\n",
        14 => $"gat abc {key}\r\n",
        15 => "flush_all abc\r\n",
        16 => $"cas {key} 0 0 1\r\nx\r\n",
        17 => $"set {key} abc 0 1\r\nx\r\n",
        18 => $"set {key} -1 0 1\r\nx\r\n",
        19 => "get\r\n",
        20 => $"set {key} 0 0 1 noreply extra\r\nx\r\n",
        _ => "gat\r\n",
    };

    /// <summary>
    /// The unique a placeholder stands for when its key has none yet: one no item has on either server. (memcached's
    /// uniques count from 1 over the whole process, so 1 can be the unique of the first item another test stored.)
    /// </summary>
    private const ulong NoUnique = 999_999_998;

    /// <summary>
    /// The stream element with its <c>{cas:N}</c> placeholder filled from <paramref name="seen"/>: the N-th latest
    /// unique the server answered for the command's key, or <see cref="NoUnique"/> when there is none. A unique is only ever compared
    /// with the uniques of its own key: Granary's are unique per key, not across keys as memcached's are.
    /// </summary>
    public static string Resolve(string command, IReadOnlyDictionary<string, List<ulong>> seen) =>
        CasPlaceholder().Replace(command, m =>
        {
            var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var key = command.Split(' ')[1];
            return (seen.TryGetValue(key, out var uniques) && n < uniques.Count ? uniques[uniques.Count - 1 - n] : NoUnique).ToString(CultureInfo.InvariantCulture);
        });

    /// <summary>
    /// A reply with its cas uniques renamed in order of first appearance (#0, #1, ...) per key through
    /// <paramref name="names"/> (one map per server), recording new uniques per key in <paramref name="seen"/>.
    /// </summary>
    public static string Normalize(string reply, Dictionary<(string, ulong), int> names, Dictionary<string, List<ulong>> seen)
    {
        var lines = reply.Split("\r\n");
        for (var i = 0; i < lines.Length; i++)
        {
            var parts = lines[i].Split(' ');
            if (parts is ["VALUE", var key, _, _, var unique] && ulong.TryParse(unique, CultureInfo.InvariantCulture, out var cas))
            {
                parts[4] = Rename(key, cas, names, seen);
                Unpad(parts, lines, i);
                lines[i] = string.Join(' ', parts);
                i++; // the data line
            }
            else if (parts is ["VALUE", ..])
            {
                Unpad(parts, lines, i);
                lines[i] = string.Join(' ', parts);
                i++;
            }
        }

        return string.Join("\r\n", lines);
    }

    /// <summary>The name (<c>#N</c>, by order of first appearance) of <paramref name="key"/>'s unique <paramref name="cas"/>, recording a new one in <paramref name="seen"/>.</summary>
    public static string Rename(string key, ulong cas, Dictionary<(string, ulong), int> names, Dictionary<string, List<ulong>> seen)
    {
        if (!names.TryGetValue((key, cas), out var name))
        {
            name = names.Count;
            names[(key, cas)] = name;
            if (!seen.TryGetValue(key, out var uniques))
            {
                seen[key] = uniques = [];
            }

            uniques.Add(cas);
        }

        return "#" + name.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A number that <c>decr</c> made shorter, written as the digits without the trailing spaces (and the
    /// byte count to match). memcached pads such a number with spaces when it rewrites the item in place,
    /// and writes a new unpadded item when something else still holds the old one (a reply of the same
    /// pipeline not yet sent): which one depends on its buffers, not on the commands. Granary always pads.
    /// </summary>
    private static void Unpad(string[] header, string[] lines, int index)
    {
        if (header.Length >= 4 && index + 1 < lines.Length && lines[index + 1].Length > 0 && char.IsAsciiDigit(lines[index + 1][0]))
        {
            var trimmed = lines[index + 1].TrimEnd(' ');
            if (trimmed.Length < lines[index + 1].Length && trimmed.All(char.IsAsciiDigit))
            {
                lines[index + 1] = trimmed;
                header[3] = trimmed.Length.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    [GeneratedRegex(@"\{cas:(\d+)\}")]
    private static partial Regex CasPlaceholder();
}
