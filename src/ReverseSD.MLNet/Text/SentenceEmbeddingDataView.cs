using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// The output of <see cref="SentenceEmbeddingTransformer.Transform"/>: the source rows plus an embedding column
/// computed on demand. Its cursor reads the text column ahead through a second cursor over the source (same
/// order, checked by row id) and encodes it in blocks of the encoder's batch size.
/// </summary>
internal sealed class SentenceEmbeddingDataView : IDataView
{
    private readonly IDataView _source;
    private readonly SentenceEncoder _encoder;
    private readonly DataViewSchema.Column _text;

    public SentenceEmbeddingDataView(IDataView source, DataViewSchema schema, SentenceEncoder encoder, string inputColumnName)
    {
        _source = source;
        _encoder = encoder;
        _text = source.Schema[inputColumnName];
        Schema = schema;
    }

    public bool CanShuffle => _source.CanShuffle;

    public DataViewSchema Schema { get; }

    private int EmbeddingIndex => _source.Schema.Count;

    public long? GetRowCount() => _source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var active = new bool[Schema.Count];
        foreach (var c in columnsNeeded) active[c.Index] = true;
        bool embed = active[EmbeddingIndex];

        var sourceColumns = Enumerable.Range(0, EmbeddingIndex).Where(i => active[i]).Select(i => _source.Schema[i]).ToList();
        if (embed && !sourceColumns.Contains(_text)) sourceColumns.Add(_text);
        // Both cursors must visit the rows in the same order: give a shuffling source two equally seeded generators.
        int? seed = rand?.Next();
        var main = _source.GetRowCursor(sourceColumns, seed is int s1 ? new Random(s1) : null);
        var ahead = embed ? _source.GetRowCursor([_text], seed is int s2 ? new Random(s2) : null) : null;
        return new Cursor(this, main, ahead, active);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly SentenceEmbeddingDataView _parent;
        private readonly DataViewRowCursor _main;
        private readonly DataViewRowCursor? _ahead;
        private readonly bool[] _active;
        private readonly ValueGetter<DataViewRowId> _mainId;
        private readonly ValueGetter<ReadOnlyMemory<char>>? _mainText;
        private readonly ValueGetter<ReadOnlyMemory<char>>? _aheadText;
        private readonly ValueGetter<DataViewRowId>? _aheadId;

        // The current block: texts and row ids read ahead, their embeddings once computed.
        private readonly List<string> _blockTexts = [];
        private readonly List<DataViewRowId> _blockIds = [];
        private float[][]? _blockVectors;
        private int _blockPosition = -1;
        private bool _aheadDone;
        private float[]? _single; // embedding of the current row when it could not come from the block
        private long _singlePosition = -1;

        public Cursor(SentenceEmbeddingDataView parent, DataViewRowCursor main, DataViewRowCursor? ahead, bool[] active)
        {
            _parent = parent;
            _main = main;
            _ahead = ahead;
            _active = active;
            _mainId = main.GetIdGetter();
            if (ahead != null)
            {
                _mainText = main.GetGetter<ReadOnlyMemory<char>>(parent._text);
                _aheadText = ahead.GetGetter<ReadOnlyMemory<char>>(parent._text);
                _aheadId = ahead.GetIdGetter();
            }
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _main.Position;

        public override long Batch => _main.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _mainId;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override bool MoveNext()
        {
            if (!_main.MoveNext()) return false;
            if (_ahead != null)
            {
                _blockPosition++;
                if (_blockPosition >= _blockTexts.Count) ReadBlock();
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            if (column.Index != _parent.EmbeddingIndex)
                return _main.GetGetter<TValue>(_parent._source.Schema[column.Index]);
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> value) =>
            {
                var vector = Current();
                var editor = VBufferEditor.Create(ref value, vector.Length);
                vector.CopyTo(editor.Values);
                value = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        private void ReadBlock()
        {
            _blockTexts.Clear();
            _blockIds.Clear();
            _blockVectors = null;
            _blockPosition = 0;
            ReadOnlyMemory<char> text = default;
            DataViewRowId id = default;
            while (!_aheadDone && _blockTexts.Count < _parent._encoder.BatchSize)
            {
                if (!_ahead!.MoveNext())
                {
                    _aheadDone = true;
                    break;
                }
                _aheadText!(ref text);
                _aheadId!(ref id);
                _blockTexts.Add(text.ToString());
                _blockIds.Add(id);
            }
        }

        /// <summary>The current row's embedding: from the encoded block when the read-ahead row is this row, else encoded alone.</summary>
        private float[] Current()
        {
            DataViewRowId id = default;
            _mainId(ref id);
            if (_blockPosition < _blockIds.Count && _blockIds[_blockPosition].Equals(id))
            {
                if (_blockVectors == null)
                {
                    for (int i = 0; i < _blockTexts.Count; i++) CheckNotEmpty(_blockTexts[i], Position - _blockPosition + i);
                    _blockVectors = _parent._encoder.Encode(_blockTexts);
                }
                return _blockVectors[_blockPosition];
            }
            // The source gave the two cursors different orders (a source that shuffles nondeterministically).
            if (_singlePosition != Position)
            {
                ReadOnlyMemory<char> text = default;
                _mainText!(ref text);
                string s = text.ToString();
                CheckNotEmpty(s, Position);
                _single = _parent._encoder.Encode(s);
                _singlePosition = Position;
            }
            return _single!;
        }

        private void CheckNotEmpty(string text, long position)
        {
            if (string.IsNullOrWhiteSpace(text))
                throw new ReverseSdInputException(
                    $"Row {position} (0-based) of column '{_parent._text.Name}' is empty: every prompt needs at least one word.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _main.Dispose();
                _ahead?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
