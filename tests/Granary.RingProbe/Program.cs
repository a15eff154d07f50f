using System.Globalization;
using System.Text;
using Granary.Hashing;

// Usage: Granary.RingProbe --node ID[=WEIGHT]... [--vnodes N] [--count N] [--key KEY]...
// Prints "key<TAB>owner" for keys key-0..key-(N-1) and then each --key, one per line.
var nodes = new List<RingNode>();
var keys = new List<string>();
var vnodes = ConsistentHashRing.DefaultVirtualNodesPerWeight;
var count = 0;

for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    if (value is null)
    {
        return Fail($"Missing value after {args[i]}.");
    }

    switch (args[i])
    {
        case "--node":
            var eq = value.LastIndexOf('=');
            nodes.Add(eq < 0
                ? new RingNode(value)
                : new RingNode(value[..eq], int.Parse(value[(eq + 1)..], CultureInfo.InvariantCulture)));
            break;
        case "--vnodes":
            vnodes = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        case "--count":
            count = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        case "--key":
            keys.Add(value);
            break;
        default:
            return Fail($"Unknown option {args[i]}.");
    }

    i++;
}

if (nodes.Count == 0)
{
    return Fail("At least one --node is required.");
}

var ring = ConsistentHashRing.Create(nodes, vnodes);
var output = new StringBuilder();
for (var k = 0; k < count; k++)
{
    var key = string.Create(CultureInfo.InvariantCulture, $"key-{k}");
    output.Append(key).Append('\t').Append(ring.GetNode(key)).Append('\n');
}

foreach (var key in keys)
{
    output.Append(key).Append('\t').Append(ring.GetNode(key)).Append('\n');
}

using (var stdout = Console.OpenStandardOutput())
{
    var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(output.ToString());
    stdout.Write(bytes);
}

return 0;

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    Console.Error.WriteLine("Usage: Granary.RingProbe --node ID[=WEIGHT]... [--vnodes N] [--count N] [--key KEY]...");
    return 2;
}
