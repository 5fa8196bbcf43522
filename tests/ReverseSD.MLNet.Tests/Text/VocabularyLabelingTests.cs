using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Tests.Backbones;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class VocabularyLabelingTests
{
    private sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
        public float Seed { get; set; }
    }

    private sealed class LabelRow
    {
        public string Prompt { get; set; } = "";
        public float[] VocabularyLabels { get; set; } = [];
    }

    private static IDataView Prompts(MLContext ml, params string[] prompts) =>
        ml.Data.LoadFromEnumerable(prompts.Select((p, i) => new PromptRow { Prompt = p, Seed = i }).ToList());

    [Fact]
    public void CapitalisedWordsMatchTheLowerCaseVocabularyWord()
    {
        var ml = new MLContext(seed: 1);
        var labeler = ml.Transforms.Text.ProduceVocabularyLabels(new VocabularyLabelingOptions { Vocabulary = Vocabulary.FromWords(["cat", "dog", "tree"]) })
            .Fit(Prompts(ml, "x"));

        var rows = ml.Data.CreateEnumerable<LabelRow>(labeler.Transform(Prompts(ml, "A Cat under a TREE", "a cat", "catalogue of dogs")), false).ToList();

        Assert.Equal([1f, 0f, 1f], rows[0].VocabularyLabels);
        Assert.Equal([1f, 0f, 0f], rows[1].VocabularyLabels);
        Assert.Equal([0f, 0f, 0f], rows[2].VocabularyLabels);   // whole words only: "catalogue" is not "cat", "dogs" is not "dog"
        Assert.Equal("A Cat under a TREE", rows[0].Prompt);
    }

    [Fact]
    public void FitBuildsTheVocabularyFromTheTrainingPromptsAndNamesTheSlots()
    {
        var ml = new MLContext(seed: 1);
        var train = Prompts(ml, "red Cat", "blue cat", "green dog", "Cat and dog");
        var labeler = ml.Transforms.Text.ProduceVocabularyLabels(vocabularySize: 2).Fit(train);

        Assert.Equal(["cat", "dog"], labeler.Vocabulary.Words);
        var scored = labeler.Transform(train);
        var column = scored.Schema["VocabularyLabels"];
        Assert.Equal(2, ((VectorDataViewType)column.Type).Size);
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.GetSlotNames(ref names);
        Assert.Equal(["cat", "dog"], names.DenseValues().Select(n => n.ToString()));
        var labels = ml.Data.CreateEnumerable<LabelRow>(scored, false).Select(r => r.VocabularyLabels).ToList();
        Assert.Equal([[1f, 0f], [1f, 0f], [0f, 1f], [1f, 1f]], labels);
        Assert.Equal([0, 1], labeler.LabelIndices("DOG CAT"));
    }

    [Fact]
    public void CatalogArgumentsReachTheEstimator()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { Text = "cat dog", Prompt = "tree" } });
        var labeler = ml.Transforms.Text.ProduceVocabularyLabels("Labels", "Text", vocabularySize: 1).Fit(data);

        Assert.Equal("Text", labeler.InputColumnName);
        Assert.Equal("Labels", labeler.OutputColumnName);
        Assert.Single(labeler.Vocabulary.Words);
        Assert.NotEqual("tree", labeler.Vocabulary.Words[0]);
        Assert.Equal(1, ((VectorDataViewType)labeler.Transform(data).Schema["Labels"].Type).Size);
    }

    [Fact]
    public void MissingOrWronglyTypedPromptColumnFailsAtGetOutputSchemaAndFit()
    {
        var ml = new MLContext(seed: 1);
        var estimator = ml.Transforms.Text.ProduceVocabularyLabels();
        var noPrompt = ml.Data.LoadFromEnumerable(new[] { new { Caption = "a cat" } });
        var numberPrompt = ml.Data.LoadFromEnumerable(new[] { new { Prompt = 1f } });

        var missing = Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(noPrompt.Schema)));
        Assert.Contains("'Prompt'", missing.Message);
        Assert.Contains("Caption", missing.Message);
        Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(numberPrompt.Schema)));
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(noPrompt));

        var shape = estimator.GetOutputSchema(SchemaShapes.Of(Prompts(ml, "cat").Schema));
        var labels = shape.Single(c => c.Name == "VocabularyLabels");
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, labels.Kind);
        Assert.Equal(NumberDataViewType.Single, labels.ItemType);
        Assert.Contains(shape, c => c.Name == "Seed");
    }

    [Fact]
    public void SavingTheLabelerThrowsNotSupported()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Prompts(ml, "cat");
        var labeler = ml.Transforms.Text.ProduceVocabularyLabels().Fit(data);

        var e = Assert.Throws<NotSupportedException>(() => ml.Model.Save(labeler, data.Schema, dir.File("labels.zip")));
        Assert.Contains("ToJson", e.Message);
    }

    [Fact]
    public void LabelsFlowThroughCachingAndShuffling()
    {
        var ml = new MLContext(seed: 1);
        var train = Prompts(ml, Enumerable.Range(0, 50).Select(i => i % 2 == 0 ? $"Cat number {i}" : $"dog {i}").ToArray());
        var labeler = ml.Transforms.Text.ProduceVocabularyLabels(vocabularySize: 5).Fit(train);

        var shuffled = ml.Data.ShuffleRows(ml.Data.Cache(labeler.Transform(train)), seed: 3);
        var rows = ml.Data.CreateEnumerable<LabelRow>(shuffled, false).ToList();

        Assert.Equal(50, rows.Count);
        int cat = labeler.Vocabulary.IndexOf("cat"), dog = labeler.Vocabulary.IndexOf("dog");
        Assert.All(rows, r => Assert.Equal(r.Prompt.StartsWith("Cat", StringComparison.Ordinal) ? 1f : 0f, r.VocabularyLabels[cat]));
        Assert.All(rows, r => Assert.Equal(r.Prompt.StartsWith("dog", StringComparison.Ordinal) ? 1f : 0f, r.VocabularyLabels[dog]));
    }
}
