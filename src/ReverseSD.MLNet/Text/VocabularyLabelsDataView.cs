using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>A lazy data view that passes its source through and adds the multi-hot vocabulary label column (sparse 0/1 vector).</summary>
internal sealed class VocabularyLabelsDataView : IDataView
{
    private readonly IDataView _source;
    private readonly DataViewSchema.Column _prompt;
    private readonly Vocabulary _vocabulary;

    public VocabularyLabelsDataView(IDataView source, DataViewSchema.Column prompt, string outputColumnName, Vocabulary vocabulary)
    {
        _source = source;
        _prompt = prompt;
        _vocabulary = vocabulary;
        Schema = BuildSchema(source.Schema, outputColumnName, vocabulary);
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => _source.CanShuffle;

    public long? GetRowCount() => _source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        int labels = _source.Schema.Count;
        bool wantLabels = needed.Any(c => c.Index == labels);
        var sourceColumns = needed.Where(c => c.Index < labels).Select(c => _source.Schema[c.Index]).ToList();
        if (wantLabels && sourceColumns.All(c => c.Index != _prompt.Index))
            sourceColumns.Add(_prompt);
        return new Cursor(this, _source.GetRowCursor(sourceColumns, rand), wantLabels);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    public static DataViewSchema BuildSchema(DataViewSchema source, string outputColumnName, Vocabulary vocabulary)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(source);
        var annotations = new DataViewSchema.Annotations.Builder();
        ValueGetter<VBuffer<ReadOnlyMemory<char>>> slotNames = (ref VBuffer<ReadOnlyMemory<char>> names) =>
        {
            var editor = VBufferEditor.Create(ref names, vocabulary.Count);
            for (int i = 0; i < vocabulary.Count; i++) editor.Values[i] = vocabulary.Words[i].AsMemory();
            names = editor.Commit();
        };
        annotations.Add("SlotNames", new VectorDataViewType(TextDataViewType.Instance, vocabulary.Count), slotNames);
        builder.AddColumn(outputColumnName, new VectorDataViewType(NumberDataViewType.Single, vocabulary.Count), annotations.ToAnnotations());
        return builder.ToSchema();
    }

    /// <summary>Ascending indices of the vocabulary words that occur in <paramref name="prompt"/> as whole words (case-insensitive).</summary>
    public static int[] Labels(string prompt, Vocabulary vocabulary)
    {
        var indices = new SortedSet<int>();
        foreach (string token in Vocabulary.Tokenize(prompt))
        {
            int i = vocabulary.IndexOf(token);
            if (i >= 0) indices.Add(i);
        }
        return indices.ToArray();
    }

    /// <summary>The multi-hot label vector of <paramref name="prompt"/> (paper Eq. 2): 1 at <see cref="Labels"/>, else 0.</summary>
    public static float[] DenseLabels(string prompt, Vocabulary vocabulary)
    {
        var dense = new float[vocabulary.Count];
        foreach (int i in Labels(prompt, vocabulary)) dense[i] = 1;
        return dense;
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly VocabularyLabelsDataView _parent;
        private readonly DataViewRowCursor _source;
        private readonly bool _labelsActive;
        private readonly ValueGetter<ReadOnlyMemory<char>>? _promptGetter;
        private ReadOnlyMemory<char> _promptValue;

        public Cursor(VocabularyLabelsDataView parent, DataViewRowCursor source, bool labelsActive)
        {
            _parent = parent;
            _source = source;
            _labelsActive = labelsActive;
            if (labelsActive)
                _promptGetter = source.GetGetter<ReadOnlyMemory<char>>(source.Schema[parent._prompt.Index]);
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _source.Position;

        public override long Batch => _source.Batch;

        public override bool MoveNext() => _source.MoveNext();

        public override ValueGetter<DataViewRowId> GetIdGetter() => _source.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index < _source.Schema.Count ? _source.IsColumnActive(_source.Schema[column.Index]) : _labelsActive;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _source.Schema.Count)
                return _source.GetGetter<TValue>(_source.Schema[column.Index]);
            if (!_labelsActive)
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<float>, not {typeof(TValue).Name}.");
            ValueGetter<VBuffer<float>> getter = GetLabels;
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        private void GetLabels(ref VBuffer<float> value)
        {
            _promptGetter!(ref _promptValue);
            int[] indices = Labels(_promptValue.ToString(), _parent._vocabulary);
            int length = _parent._vocabulary.Count;
            var editor = VBufferEditor.Create(ref value, length, indices.Length);
            bool dense = indices.Length == length;
            for (int i = 0; i < indices.Length; i++)
            {
                if (!dense) editor.Indices[i] = indices[i];
                editor.Values[i] = 1f;
            }
            value = editor.Commit();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _source.Dispose();
            base.Dispose(disposing);
        }
    }
}
