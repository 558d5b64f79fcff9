# frozen_string_literal: true

# Runs the whole suite: ruby test/run.rb (from bindings/ruby, or anywhere).
Dir[File.join(__dir__, "*_test.rb")].sort.each { |f| require f }
