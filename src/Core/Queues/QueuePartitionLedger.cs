namespace Granary.Queues;

/// <summary>
/// The state machine of one queue partition, free of Orleans and storage: enqueue (idempotent by
/// message id inside a window, optional delay and ordering key), leased dequeue with a visibility
/// timeout, ack, nack (requeue with delay, or dead-letter), lease extension, redelivery when a lease
/// expires, dead-lettering after <see cref="QueuePartitionSettings.MaxDeliveries"/>, and the
/// dead-letter list (inspect, purge, redrive). Every mutation that must be stored is appended to a
/// change journal (<see cref="DrainChanges"/>) that the owner writes in one batch. Time comes only
/// from the injected <see cref="TimeProvider"/>. Not thread-safe: one owner (a grain) drives it.
/// </summary>
/// <remarks>
/// <para>
/// <b>Memory window.</b> Only the oldest <see cref="QueuePartitionSettings.MemoryWindow"/> ready
/// messages are held in memory, with their bodies. A message accepted while the window is full (or
/// while older messages wait in storage) is written like any other and then held only in storage;
/// <see cref="NextPage"/> tells the owner which rows to read back, in sequence order, once the
/// window has drained to half, and <see cref="AddPage"/> takes them. Because storage is read in
/// sequence order and every message in memory is older than every message held only in storage,
/// per-key order, delays, redelivery and dead letters work as if everything were in memory. Bodies
/// of leased and dead-lettered messages are dropped (storage has them): a redelivered message's
/// lease comes without a body, which the owner reads by sequence. Message ids stay in memory for
/// the deduplication window whether or not the body does.
/// </para>
/// <para>
/// <b>Depth.</b> <see cref="HasRoomFor"/> and <see cref="Reserve"/> bound the messages held
/// (<see cref="Held"/>) by <see cref="QueuePartitionSettings.MaxMessages"/>.
/// </para>
/// </remarks>
/// <example><code>
/// var ledger = new QueuePartitionLedger(QueuePartitionSettings.Default, TimeProvider.System);
/// var seq = ledger.Enqueue("m-1", key: null, body, delay: TimeSpan.Zero).Sequence;
/// ledger.Commit([seq]);                       // after the storage write
/// var lease = ledger.Dequeue("worker-1", 10, TimeSpan.FromSeconds(30))[0];
/// ledger.Ack(lease.Sequence, lease.LeaseToken);
/// </code></example>
public sealed class QueuePartitionLedger
{
    private const int SettledMemory = 100_000;

    private readonly TimeProvider _time;
    private readonly Dictionary<long, QueuedMessage> _messages = [];
    private readonly SortedSet<long> _available = [];
    private readonly PriorityQueue<long, DateTimeOffset> _delayed = new();
    private readonly PriorityQueue<(long Sequence, long Token), DateTimeOffset> _leases = new();
    private readonly Dictionary<string, SortedSet<long>> _keys = new(StringComparer.Ordinal);
    private readonly SortedSet<long> _dead = [];
    private readonly Dictionary<string, (long Sequence, DateTimeOffset ExpiresAt)> _dedup = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, DateTimeOffset> _dedupExpiry = new();
    private readonly HashSet<long> _settled = [];
    private readonly Queue<long> _settledOrder = new();
    private readonly List<QueuePartitionChange> _changes = [];
    private readonly Dictionary<long, (int Count, DateTimeOffset ExpiresAt)> _reservations = [];
    private long _nextSequence = 1;
    private long _nextToken = 1;
    private long _nextReservation = 1;
    private int _ready;
    private int _inFlight;
    private int _pending;
    private int _pendingInMemory;
    private int _pendingSpilled;
    private int _bodies;
    private long _stored;
    private long _storedThrough;
    private long _horizon;
    private long _enqueued;
    private long _acked;
    private long _redelivered;

    /// <summary>Creates an empty partition.</summary>
    public QueuePartitionLedger(QueuePartitionSettings settings, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxDeliveries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MemoryWindow, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxMessages, 1);
        Settings = settings;
        _time = time;
    }

    /// <summary>The rules in force.</summary>
    public QueuePartitionSettings Settings { get; set; }

    /// <summary>The sequence the next enqueue gets.</summary>
    public long NextSequence => _nextSequence;

    /// <summary>
    /// Messages held and not acked or purged: ready, delayed, in flight, dead-lettered, held only in
    /// storage, or being written. <see cref="QueuePartitionSettings.MaxMessages"/> bounds it.
    /// </summary>
    public long Held => _ready + _inFlight + _dead.Count + _pending + _stored;

    /// <summary>
    /// Makes lease tokens of this incarnation start above <paramref name="firstToken"/> (e.g. the
    /// storage epoch shifted left 32 bits), so a receipt issued before a crash can never match a
    /// lease issued after it.
    /// </summary>
    public void StartTokensAt(long firstToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(firstToken, 1);
        _nextToken = Math.Max(_nextToken, firstToken);
    }

    /// <summary>
    /// Makes new messages number above <paramref name="highest"/>: storage may still hold rows the
    /// ledger did not load (settled messages older than the deduplication window, until their
    /// cleanup), and a new message must never take the sequence of such a row.
    /// </summary>
    public void ReserveSequencesThrough(long highest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(highest);
        _nextSequence = Math.Max(_nextSequence, highest + 1);
    }

    /// <summary>Changes not yet handed to storage.</summary>
    public int PendingChangeCount => _changes.Count;

    /// <summary>True when <paramref name="id"/> was seen inside the deduplication window: enqueuing it again adds nothing.</summary>
    public bool IsDuplicate(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        PruneDedup(_time.GetUtcNow());
        return _dedup.ContainsKey(id);
    }

    /// <summary>
    /// True when <paramref name="count"/> more messages fit under <see cref="QueuePartitionSettings.MaxMessages"/>
    /// besides those held and those reserved (<see cref="Reserve"/>); zero always fits.
    /// </summary>
    public bool HasRoomFor(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return count == 0 || Held + Reserved(_time.GetUtcNow()) + count <= Settings.MaxMessages;
    }

    /// <summary>
    /// Sets room for <paramref name="count"/> messages aside for <paramref name="hold"/> (an enqueue
    /// that is to happen only if other partitions have room too); returns its token, or 0 when it
    /// does not fit. <see cref="Release"/> gives it back; so does the clock.
    /// </summary>
    public long Reserve(int count, TimeSpan hold)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(hold, TimeSpan.Zero);
        if (!HasRoomFor(count))
        {
            return 0;
        }

        var token = _nextReservation++;
        _reservations.Add(token, (count, _time.GetUtcNow() + hold));
        return token;
    }

    /// <summary>Gives back a reservation (no-op for an unknown or expired token).</summary>
    public void Release(long reservation) => _reservations.Remove(reservation);

    /// <summary>
    /// Adds a message as <see cref="QueueMessageStatus.Pending"/> (not deliverable until
    /// <see cref="Commit"/>) and journals its append; a message id seen inside the deduplication
    /// window returns the original sequence and changes nothing (if the original is still
    /// <see cref="IsPending">pending</see>, the duplicate is only as stored as the original's write). With <paramref name="deduplicate"/>
    /// false (an id the partition generated, which no producer can repeat) the id is not remembered
    /// and the message's row is deleted when it is acked instead of being kept for the window.
    /// Depth is the owner's to check first (<see cref="HasRoomFor"/>).
    /// </summary>
    public EnqueueOutcome Enqueue(string id, string? key, byte[] body, TimeSpan delay, bool deduplicate = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        PruneDedup(now);
        if (_dedup.TryGetValue(id, out var seen))
        {
            return new EnqueueOutcome(seen.Sequence, Duplicate: true);
        }

        var message = Append(id, key, body, now, now + delay, deduplicate, now);
        return new EnqueueOutcome(message.Sequence, Duplicate: false);
    }

    /// <summary>The storage write that contained these appends is durable: make them deliverable (or, beyond the memory window, leave them to storage).</summary>
    public void Commit(IEnumerable<long> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var now = _time.GetUtcNow();
        foreach (var sequence in sequences)
        {
            if (_messages.TryGetValue(sequence, out var message) && message.Status == QueueMessageStatus.Pending)
            {
                _pending--;
                _enqueued++;
                if (message.Spilled)
                {
                    _pendingSpilled--;
                    DropBody(message);
                    _messages.Remove(sequence);
                    _stored++;
                    _storedThrough = Math.Max(_storedThrough, sequence);
                    continue;
                }

                _pendingInMemory--;
                SetReady(message, now);
            }
        }
    }

    /// <summary>The storage write failed: forget these appends as if never made (their ids too).</summary>
    public void Abort(IEnumerable<long> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var now = _time.GetUtcNow();
        foreach (var sequence in sequences)
        {
            if (_messages.TryGetValue(sequence, out var message) && message.Status == QueueMessageStatus.Pending)
            {
                _pending--;
                if (message.Spilled)
                {
                    _pendingSpilled--;
                }
                else
                {
                    _pendingInMemory--;
                }

                DropBody(message);
                _messages.Remove(sequence);
                _dedup.Remove(message.Id);
                RemoveFromKey(message, now);
            }
        }
    }

    /// <summary>
    /// Leases up to <paramref name="max"/> deliverable messages in sequence order, skipping any
    /// whose key has an earlier message not yet settled. A leased message's body leaves memory
    /// (storage has it); a lease of a redelivered message comes without a body.
    /// </summary>
    public IReadOnlyList<QueueLease> Dequeue(string consumer, int max, TimeSpan visibilityTimeout)
    {
        ArgumentException.ThrowIfNullOrEmpty(consumer);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(visibilityTimeout, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        Tick(now);
        var leases = new List<QueueLease>(Math.Min(max, _available.Count));
        while (leases.Count < max && _available.Count > 0)
        {
            var sequence = _available.Min;
            _available.Remove(sequence);
            var message = _messages[sequence];
            message.Status = QueueMessageStatus.InFlight;
            _ready--;
            _inFlight++;
            message.Deliveries++;
            message.LeaseToken = _nextToken++;
            message.LeaseHolder = consumer;
            message.LeaseExpiresAt = now + visibilityTimeout;
            _leases.Enqueue((sequence, message.LeaseToken), message.LeaseExpiresAt);
            leases.Add(new QueueLease(sequence, message.LeaseToken, message.Id, message.Key, message.Body, message.EnqueuedAt, message.Deliveries, message.LeaseExpiresAt));
            DropBody(message);
        }

        return leases;
    }

    /// <summary>Settles a delivered message for good; journals it.</summary>
    public SettleOutcome Ack(long sequence, long leaseToken)
    {
        var now = _time.GetUtcNow();
        Tick(now);
        var outcome = Check(sequence, leaseToken, out var message);
        if (outcome != SettleOutcome.Ok)
        {
            return outcome;
        }

        _inFlight--;
        _acked++;
        Forget(message!, now);
        Journal(SettleKind(message!), message!, now);
        return SettleOutcome.Ok;
    }

    /// <summary>
    /// Gives a delivered message back: visible again after <paramref name="delay"/>, or straight to
    /// the dead-letter list; a message that has used all its deliveries is dead-lettered either way.
    /// </summary>
    public SettleOutcome Nack(long sequence, long leaseToken, TimeSpan delay, bool deadLetter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        Tick(now);
        var outcome = Check(sequence, leaseToken, out var message);
        if (outcome != SettleOutcome.Ok)
        {
            return outcome;
        }

        _inFlight--;
        ClearLease(message!);
        if (deadLetter)
        {
            DeadLetter(message!, "rejected by consumer", now);
        }
        else if (message!.Deliveries >= Settings.MaxDeliveries)
        {
            DeadLetter(message, $"nacked after {message.Deliveries} deliveries", now);
        }
        else
        {
            message.VisibleAt = now + delay;
            SetReady(message, now);
            Journal(QueueChangeKind.Update, message, now);
        }

        return SettleOutcome.Ok;
    }

    /// <summary>Moves the lease's end to now + <paramref name="visibilityTimeout"/>.</summary>
    public SettleOutcome ExtendVisibility(long sequence, long leaseToken, TimeSpan visibilityTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(visibilityTimeout, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        Tick(now);
        var outcome = Check(sequence, leaseToken, out var message);
        if (outcome != SettleOutcome.Ok)
        {
            return outcome;
        }

        message!.LeaseExpiresAt = now + visibilityTimeout;
        _leases.Enqueue((sequence, leaseToken), message.LeaseExpiresAt);
        return SettleOutcome.Ok;
    }


    /// <summary>
    /// Applies the clock: expired leases are redelivered (or dead-lettered after the last delivery),
    /// delayed messages whose time came become deliverable, old message ids leave the dedup window,
    /// expired reservations end.
    /// </summary>
    public void Tick() => Tick(_time.GetUtcNow());

    /// <summary>The dead-letter list in sequence order (at most <paramref name="limit"/>), without bodies (storage holds them).</summary>
    public IReadOnlyList<QueuedMessage> DeadLetters(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 0);
        Tick(_time.GetUtcNow());
        return _dead.Take(limit).Select(s => _messages[s]).ToList();
    }

    /// <summary>Deletes every dead-lettered message; returns how many.</summary>
    public int PurgeDeadLetters()
    {
        var now = _time.GetUtcNow();
        Tick(now);
        var purged = _dead.ToList();
        foreach (var sequence in purged)
        {
            var message = _messages[sequence];
            Forget(message, now);
            Journal(SettleKind(message), message, now);
        }

        return purged.Count;
    }

    /// <summary>
    /// Moves the dead-lettered messages named in <paramref name="bodies"/> (sequence to body, read
    /// from storage; see <see cref="DeadLetters"/>) back to the queue as fresh messages at its tail
    /// (new sequence, delivery count 0, same id, key and body), in sequence order; a sequence that
    /// is no longer dead-lettered is skipped. Returns how many moved. Moving a message does not
    /// change <see cref="Held"/>, so it needs no room.
    /// </summary>
    public int Redrive(IReadOnlyDictionary<long, byte[]> bodies)
    {
        ArgumentNullException.ThrowIfNull(bodies);
        var now = _time.GetUtcNow();
        Tick(now);
        var moved = 0;
        foreach (var (sequence, body) in bodies.OrderBy(b => b.Key))
        {
            if (!_messages.TryGetValue(sequence, out var old) || old.Status != QueueMessageStatus.DeadLettered)
            {
                continue;
            }

            Forget(old, now);
            Journal(SettleKind(old), old, now);
            Append(old.Id, old.Key, body, old.EnqueuedAt, now, old.Deduplicated, now);
            moved++;
        }

        return moved;
    }

    /// <summary>
    /// True while the message is <see cref="QueueMessageStatus.Pending"/>: its append is journaled or
    /// being written, and a duplicate of it must wait for that write's outcome before it is answered.
    /// </summary>
    public bool IsPending(long sequence) => _messages.TryGetValue(sequence, out var message) && message.Status == QueueMessageStatus.Pending;

    /// <summary>Sequences still <see cref="QueueMessageStatus.Pending"/> (redriven messages wait for the same commit as enqueues).</summary>
    public IReadOnlyList<long> PendingSequences() =>
        _messages.Values.Where(m => m.Status == QueueMessageStatus.Pending).Select(m => m.Sequence).Order().ToList();

    /// <summary>Hands the journal to the owner for one storage write and clears it.</summary>
    public IReadOnlyList<QueuePartitionChange> DrainChanges()
    {
        var changes = _changes.ToArray();
        _changes.Clear();
        return changes;
    }

    /// <summary>Earliest moment something may become deliverable without a new enqueue (a lease end or a delay end), if any.</summary>
    public DateTimeOffset? NextWakeUp()
    {
        Tick(_time.GetUtcNow());
        DateTimeOffset? next = null;
        if (_delayed.TryPeek(out _, out var visibleAt))
        {
            next = visibleAt;
        }

        if (_leases.TryPeek(out _, out var expiresAt) && (next is null || expiresAt < next))
        {
            next = expiresAt;
        }

        return next;
    }

    /// <summary>Ready (including delayed and held only in storage), in-flight and dead-lettered counts without a scan: cheap enough for a metrics gauge.</summary>
    public (int Ready, int InFlight, int DeadLettered) Depths => ((int)Math.Min(int.MaxValue, _ready + _stored), _inFlight, _dead.Count);

    /// <summary>Current counts (delayed is counted by a scan of the messages in memory: call it for stats, not per message).</summary>
    public QueuePartitionCounts Counts()
    {
        var now = _time.GetUtcNow();
        Tick(now);
        var delayed = 0;
        foreach (var message in _messages.Values)
        {
            if (message.Status == QueueMessageStatus.Ready && message.VisibleAt > now)
            {
                delayed++;
            }
        }

        return new QueuePartitionCounts(_ready - delayed, delayed, _inFlight, _dead.Count, _pending, _enqueued, _acked, _redelivered, _stored, _bodies);
    }

    /// <summary>True when at least one message can be leased right now.</summary>
    public bool HasAvailable()
    {
        Tick(_time.GetUtcNow());
        return _available.Count > 0;
    }

    /// <summary>
    /// Rebuilds the partition's index from stored rows (after activation or a crash; call it once per
    /// page of rows, bodies are not needed): settled rows' ids for deduplication, the dead-letter
    /// list (without bodies), and ready rows as messages held only in storage, which
    /// <see cref="NextPage"/> then brings into memory. Leases do not survive: rows that were in
    /// flight come back ready.
    /// </summary>
    public void Restore(IEnumerable<StoredQueueMessage> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var now = _time.GetUtcNow();
        foreach (var row in rows)
        {
            _nextSequence = Math.Max(_nextSequence, row.Sequence + 1);
            if (row.Settled)
            {
                var expires = row.SettledAt + Settings.DeduplicationWindow;
                if (expires > now && !_dedup.ContainsKey(row.Id))
                {
                    Remember(row.Id, row.Sequence, expires);
                }

                continue;
            }

            if (_messages.ContainsKey(row.Sequence))
            {
                continue;
            }

            if (row.Deduplicated)
            {
                _dedup.Remove(row.Id);
                Remember(row.Id, row.Sequence, row.EnqueuedAt + Settings.DeduplicationWindow);
            }

            if (row.Status == QueueMessageStatus.DeadLettered)
            {
                var message = new QueuedMessage(row.Sequence, row.Id, row.Key, null, row.EnqueuedAt, row.VisibleAt)
                {
                    Deliveries = row.Deliveries,
                    Status = QueueMessageStatus.DeadLettered,
                    Deduplicated = row.Deduplicated,
                    DeadLetterReason = "dead-lettered before recovery",
                };
                _messages.Add(message.Sequence, message);
                _dead.Add(message.Sequence);
                continue;
            }

            if (row.Sequence > _horizon)
            {
                _stored++;
                _storedThrough = Math.Max(_storedThrough, row.Sequence);
            }
        }
    }

    /// <summary>
    /// The rows to read into memory next, when the memory window has drained to half while messages
    /// wait in storage: ready rows with sequences in (<see cref="QueuePage.After"/>,
    /// <see cref="QueuePage.Through"/>], at most <see cref="QueuePage.Limit"/>, in sequence order,
    /// with bodies. Null when nothing is to be read.
    /// </summary>
    public QueuePage? NextPage()
    {
        var inWindow = _ready + _pendingInMemory;
        var window = Settings.MemoryWindow;
        if (_stored == 0 || inWindow > window / 2)
        {
            return null;
        }

        return new QueuePage(_horizon, _storedThrough, window - inWindow);
    }

    /// <summary>
    /// Takes the rows read for <paramref name="page"/> (see <see cref="NextPage"/>) into memory as
    /// ready messages; returns how many. A page that no longer starts at the window's end (another
    /// page was taken meanwhile) is ignored.
    /// </summary>
    public int AddPage(QueuePage page, IReadOnlyList<StoredQueueMessage> rows)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(rows);
        if (page.After != _horizon)
        {
            return 0;
        }

        var now = _time.GetUtcNow();
        var added = 0;
        var last = _horizon;
        foreach (var row in rows.OrderBy(r => r.Sequence))
        {
            if (row.Sequence <= page.After || row.Sequence > page.Through || row.Settled || row.Status != QueueMessageStatus.Ready || row.Body is null)
            {
                throw new ArgumentException($"row {row.Sequence} is not a ready row with a body in ({page.After}, {page.Through}]", nameof(rows));
            }

            last = row.Sequence;
            if (_messages.ContainsKey(row.Sequence))
            {
                continue;
            }

            var message = new QueuedMessage(row.Sequence, row.Id, row.Key, null, row.EnqueuedAt, row.VisibleAt)
            {
                Deliveries = row.Deliveries,
                Deduplicated = row.Deduplicated,
            };
            HoldBody(message, row.Body);
            _messages.Add(message.Sequence, message);
            if (message.Key is not null)
            {
                KeyList(message.Key).Add(message.Sequence);
            }

            _stored--;
            added++;
            SetReady(message, now);
        }

        // A short page read every ready row through its end.
        _horizon = rows.Count < page.Limit ? page.Through : last;
        if (_horizon >= _storedThrough || _stored < 0)
        {
            _stored = 0;
        }

        return added;
    }

    private QueuedMessage Append(string id, string? key, byte[] body, DateTimeOffset enqueuedAt, DateTimeOffset visibleAt, bool deduplicate, DateTimeOffset now)
    {
        var message = new QueuedMessage(_nextSequence++, id, key, null, enqueuedAt, visibleAt) { Status = QueueMessageStatus.Pending, Deduplicated = deduplicate };
        HoldBody(message, body);
        _messages.Add(message.Sequence, message);
        _pending++;

        // Beyond the window, or behind messages that wait in storage (which must come first):
        // written like any other, then held only in storage.
        message.Spilled = _stored > 0 || _pendingSpilled > 0 || _ready + _pendingInMemory >= Settings.MemoryWindow;
        if (message.Spilled)
        {
            _pendingSpilled++;
        }
        else
        {
            _pendingInMemory++;
            _horizon = message.Sequence;
            if (key is not null)
            {
                KeyList(key).Add(message.Sequence);
            }
        }

        if (deduplicate)
        {
            Remember(id, message.Sequence, now + Settings.DeduplicationWindow);
        }

        Journal(QueueChangeKind.Append, message, now);
        return message;
    }

    private long Reserved(DateTimeOffset now)
    {
        long reserved = 0;
        List<long>? expired = null;
        foreach (var (token, reservation) in _reservations)
        {
            if (reservation.ExpiresAt <= now)
            {
                (expired ??= []).Add(token);
            }
            else
            {
                reserved += reservation.Count;
            }
        }

        foreach (var token in expired ?? [])
        {
            _reservations.Remove(token);
        }

        return reserved;
    }

    private void HoldBody(QueuedMessage message, byte[] body)
    {
        if (message.Body is null)
        {
            _bodies++;
        }

        message.Body = body;
    }

    private void DropBody(QueuedMessage message)
    {
        if (message.Body is not null)
        {
            _bodies--;
            message.Body = null;
        }
    }

    private SettleOutcome Check(long sequence, long leaseToken, out QueuedMessage? message)
    {
        if (!_messages.TryGetValue(sequence, out message))
        {
            // In the range held only in storage: a receipt from an earlier incarnation. Its lease ended
            // with it, but the message may also have been settled then (an ack whose answer was lost):
            // only storage can tell, and the range keeps no per-message record.
            if (sequence > _horizon && sequence <= _storedThrough && _stored > 0)
            {
                return SettleOutcome.StoredOnly;
            }

            return _settled.Contains(sequence) ? SettleOutcome.AlreadySettled
                : sequence > 0 && sequence < _nextSequence && leaseToken > 0 && leaseToken < _nextToken ? SettleOutcome.AlreadySettled
                : SettleOutcome.UnknownReceipt;
        }

        if (leaseToken <= 0 || leaseToken >= _nextToken)
        {
            return SettleOutcome.UnknownReceipt;
        }

        if (message.Status == QueueMessageStatus.DeadLettered)
        {
            return SettleOutcome.AlreadySettled;
        }

        return message.Status == QueueMessageStatus.InFlight && message.LeaseToken == leaseToken
            ? SettleOutcome.Ok
            : SettleOutcome.LeaseLost;
    }

    private void Tick(DateTimeOffset now)
    {
        // Stale heap entries (settled, re-leased or extended since queued) are dropped as soon as they
        // reach the head, so NextWakeUp never reports a time at which nothing happens.
        while (_leases.TryPeek(out var lease, out var expiresAt))
        {
            var live = _messages.TryGetValue(lease.Sequence, out var message)
                && message.Status == QueueMessageStatus.InFlight
                && message.LeaseToken == lease.Token
                && message.LeaseExpiresAt == expiresAt;
            if (live && expiresAt > now)
            {
                break;
            }

            _leases.Dequeue();
            if (!live)
            {
                continue;
            }

            _inFlight--;
            ClearLease(message!);
            if (message!.Deliveries >= Settings.MaxDeliveries)
            {
                DeadLetter(message, $"not acked after {message.Deliveries} deliveries", now);
            }
            else
            {
                _redelivered++;
                SetReady(message, now);
            }
        }

        while (_delayed.TryPeek(out var sequence, out var visibleAt))
        {
            var live = _messages.TryGetValue(sequence, out var message) && message.Status == QueueMessageStatus.Ready && message.VisibleAt == visibleAt;
            if (live && visibleAt > now)
            {
                break;
            }

            _delayed.Dequeue();
            if (live)
            {
                MakeAvailableIfHead(message!);
            }
        }

        PruneDedup(now);
    }

    private void SetReady(QueuedMessage message, DateTimeOffset now)
    {
        message.Status = QueueMessageStatus.Ready;
        _ready++;
        if (message.VisibleAt > now)
        {
            _delayed.Enqueue(message.Sequence, message.VisibleAt);
        }
        else
        {
            MakeAvailableIfHead(message);
        }
    }

    private void MakeAvailableIfHead(QueuedMessage message)
    {
        if (message.Key is null || _keys[message.Key].Min == message.Sequence)
        {
            _available.Add(message.Sequence);
        }
    }

    private void DeadLetter(QueuedMessage message, string reason, DateTimeOffset now)
    {
        DropBody(message);
        message.Status = QueueMessageStatus.DeadLettered;
        message.DeadLetterReason = reason;
        _dead.Add(message.Sequence);
        RemoveFromKey(message, now);
        Journal(QueueChangeKind.Update, message, now);
    }

    private void Forget(QueuedMessage message, DateTimeOffset now)
    {
        if (message.Status == QueueMessageStatus.DeadLettered)
        {
            _dead.Remove(message.Sequence);
        }

        ClearLease(message);
        DropBody(message);
        _messages.Remove(message.Sequence);
        _settled.Add(message.Sequence);
        _settledOrder.Enqueue(message.Sequence);
        if (_settledOrder.Count > SettledMemory)
        {
            _settled.Remove(_settledOrder.Dequeue());
        }

        RemoveFromKey(message, now);
    }

    private static void ClearLease(QueuedMessage message)
    {
        message.LeaseToken = 0;
        message.LeaseHolder = null;
    }

    private void RemoveFromKey(QueuedMessage message, DateTimeOffset now)
    {
        if (message.Key is null || !_keys.TryGetValue(message.Key, out var list))
        {
            return;
        }

        var wasHead = list.Count > 0 && list.Min == message.Sequence;
        list.Remove(message.Sequence);
        if (list.Count == 0)
        {
            _keys.Remove(message.Key);
            return;
        }

        if (wasHead)
        {
            var next = _messages[list.Min];
            if (next.Status == QueueMessageStatus.Ready && next.VisibleAt <= now)
            {
                _available.Add(next.Sequence);
            }
        }
    }

    private SortedSet<long> KeyList(string key)
    {
        if (!_keys.TryGetValue(key, out var list))
        {
            list = [];
            _keys.Add(key, list);
        }

        return list;
    }

    private void Remember(string id, long sequence, DateTimeOffset expiresAt)
    {
        _dedup[id] = (sequence, expiresAt);
        _dedupExpiry.Enqueue(id, expiresAt);
    }

    private void PruneDedup(DateTimeOffset now)
    {
        while (_dedupExpiry.TryPeek(out var id, out var expiresAt) && expiresAt <= now)
        {
            _dedupExpiry.Dequeue();
            if (_dedup.TryGetValue(id, out var entry) && entry.ExpiresAt <= now)
            {
                _dedup.Remove(id);
            }
        }
    }

    private static QueueChangeKind SettleKind(QueuedMessage message) => message.Deduplicated ? QueueChangeKind.Settle : QueueChangeKind.Delete;

    private void Journal(QueueChangeKind kind, QueuedMessage message, DateTimeOffset now) =>
        _changes.Add(new QueuePartitionChange(
            kind,
            message.Sequence,
            message.Id,
            message.Key,
            kind == QueueChangeKind.Append ? message.Body : null,
            message.EnqueuedAt,
            message.VisibleAt,
            message.Deliveries,
            message.Status,
            now,
            message.Deduplicated));
}

/// <summary>Ready rows to read from storage into a partition's memory window: sequences in (<paramref name="After"/>, <paramref name="Through"/>], at most <paramref name="Limit"/>, in order.</summary>
public sealed record QueuePage(long After, long Through, int Limit);
