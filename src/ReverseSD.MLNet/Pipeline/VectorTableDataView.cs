using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>An in-memory data view of named float vector columns of known size, one row per index (fits the ensemble stages).</summary>
internal sealed class VectorTableDataView : IDataView
{
    private readonly float[][][] _columns;
    private readonly int _rows;

    /// <summary>Runs a fitted stage on rows of one vector column and reads its output column.</summary>
    public static float[][] TransformRows(ITransformer transformer, float[][] input, string inputColumn, string outputColumn, int size)
        => Evaluation.PromptEmbeddingEvaluator.ReadVectors(transformer.Transform(new VectorTableDataView((inputColumn, size, input))), outputColumn).ToArray();

    public VectorTableDataView(params (string Name, int Size, float[][] Rows)[] columns)
    {
        if (columns.Length == 0) throw new ArgumentException("At least one column is needed.", nameof(columns));
        _rows = columns[0].Rows.Length;
        var builder = new DataViewSchema.Builder();
        foreach (var (name, size, rows) in columns)
        {
            if (rows.Length != _rows) throw new ArgumentException($"Column '{name}' has {rows.Length} rows; '{columns[0].Name}' has {_rows}.");
            if (rows.Any(r => r.Length != size)) throw new ArgumentException($"Column '{name}' has a row whose length is not {size}.");
            builder.AddColumn(name, new VectorDataViewType(NumberDataViewType.Single, size));
        }
        Schema = builder.ToSchema();
        _columns = columns.Select(c => c.Rows).ToArray();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => _rows;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet());

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(VectorTableDataView parent, HashSet<int> active) : DataViewRowCursor
    {
        private long _position = -1;

        public override DataViewSchema Schema => parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool MoveNext() => ++_position < parent._rows;

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!active.Contains(column.Index))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<float>, not {typeof(TValue).Name}.");
            var rows = parent._columns[column.Index];
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> value) =>
            {
                var row = rows[_position];
                var editor = VBufferEditor.Create(ref value, row.Length);
                row.CopyTo(editor.Values);
                value = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }
    }
}
