using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Granary.Scheduling;

namespace Granary.Server.Scheduling;

/// <summary>
/// The run journal of <c>Granary:Scheduling:RunJournalDirectory</c>: one file per silo
/// (<c>runs-SILO.jsonl</c>), one JSON line per event, each written to the file with its own
/// unbuffered write before the worker goes on, so the lines of a killed silo process are all there
/// (the kernel keeps what was written).
/// </summary>
public sealed class FileTaskRunJournal : ITaskRunJournal, IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly FileStream _file;
    private readonly Lock _lock = new();

    /// <summary>Opens (appends to) the journal file of <paramref name="silo"/> in <paramref name="directory"/>.</summary>
    public FileTaskRunJournal(string directory, string silo)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(silo);
        Directory.CreateDirectory(directory);
        var name = new StringBuilder("runs-");
        foreach (var c in silo)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-');
        }

        Path = System.IO.Path.Combine(directory, name.Append(".jsonl").ToString());
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
    }

    /// <summary>The file this silo writes.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public void Append(TaskRunEvent runEvent)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(runEvent, Json);
        var bytes = new byte[line.Length + 1];
        line.CopyTo(bytes, 0);
        bytes[^1] = (byte)'\n';
        lock (_lock)
        {
            try
            {
                _file.Write(bytes);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // An audit aid must never fail a run; a full disk shows as missing lines.
            }
        }
    }

    /// <summary>Every event in every journal file of <paramref name="directory"/>.</summary>
    /// <remarks>A last line cut short (the disk filled up) is skipped; any other bad line throws.</remarks>
    public static IReadOnlyList<TaskRunEvent> ReadDirectory(string directory)
    {
        var events = new List<TaskRunEvent>();
        foreach (var file in Directory.EnumerateFiles(directory, "runs-*.jsonl"))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                try
                {
                    events.Add(JsonSerializer.Deserialize<TaskRunEvent>(lines[i], Json) ?? throw new JsonException("null line"));
                }
                catch (JsonException) when (i == lines.Length - 1)
                {
                    // Cut short.
                }
            }
        }

        return events;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }
}
